//! The parties of a federated run, one module each: what `fairshare demo` shows every party
//! doing. Where the services that separate parties run have the behaviour, the role is that
//! service composed in this process on the shared chain: participants are
//! `fairshare participant run`'s `Participant`, evaluators `fairshare evaluator run`'s
//! `Evaluator` with its `ModelValuer`, the relayer `fairshare relayer serve`'s `Relayer`. The
//! demo's own parts are the participants' behaviours (free-rider, corrupted data, dropout,
//! Sybil), the lying evaluator, the operator's merge, the challenger and governance.

pub mod challenger;
pub mod evaluator;
pub mod governance;
pub mod operator;
pub mod participant;
pub mod relayer;
