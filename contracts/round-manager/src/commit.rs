//! Batches of signed update commitments, verified on chain against each participant's key.

use cosmwasm_std::{DepsMut, Env, Response};
use fairshare_protocol::commitment::{is_low_s, CommitmentContext, SIGNATURE_LEN, UPDATE_HASH_LEN};
use fairshare_protocol::round_manager::{Phase, SignedCommitment};

use crate::compact::{encode_commitment, StoredCommitment, COMMITMENTS};
use crate::error::ContractError;
use crate::lifecycle::load_round;
use crate::phase;
use crate::state::{PARTICIPANTS, ROUNDS};
use crate::validate;

/// Verifies and stores a batch. A participant that has already committed (this batch or
/// before) is skipped and named in the `skipped` attribute; any other invalid commitment
/// fails the batch with its index.
pub fn commit_updates(
    deps: DepsMut,
    env: Env,
    round_id: u64,
    commitments: Vec<SignedCommitment>,
) -> Result<Response, ContractError> {
    let mut round = load_round(&deps, round_id)?;
    phase::require(
        &round,
        env.block.height,
        &[Phase::Open, Phase::Training],
        "Open or Training",
    )?;
    if commitments.is_empty() {
        return Err(ContractError::EmptyBatch);
    }
    if commitments.len() > round.params.max_participants as usize {
        return Err(ContractError::BatchTooLarge(
            commitments.len(),
            round.params.max_participants,
        ));
    }
    let contract = env.contract.address.to_string();
    let mut skipped: Vec<String> = vec![];
    let mut stored = 0u32;
    for (index, c) in commitments.into_iter().enumerate() {
        let addr = deps.api.addr_validate(&c.participant)?;
        let participant = PARTICIPANTS
            .may_load(deps.storage, (round_id, &addr))?
            .ok_or_else(|| ContractError::NotParticipant {
                index,
                participant: c.participant.clone(),
                round_id,
            })?;
        let canon = deps.api.addr_canonicalize(addr.as_str())?;
        if COMMITMENTS.get(deps.storage, round_id, &canon).is_some() {
            // Commitments are final: the one on chain stands, a repeat (or a copy relayed
            // twice) must not fail the rest of the batch.
            skipped.push(addr.into_string());
            continue;
        }
        let commitment: [u8; UPDATE_HASH_LEN] =
            c.commitment
                .to_array()
                .map_err(|_| ContractError::BadLength {
                    field: "commitment",
                    expected: UPDATE_HASH_LEN,
                    got: c.commitment.len(),
                })?;
        validate::length("signature", &c.signature, SIGNATURE_LEN)?;
        if !is_low_s(c.signature.as_slice()) {
            return Err(ContractError::HighS {
                index,
                participant: c.participant,
            });
        }
        let digest = CommitmentContext {
            chain_id: &env.block.chain_id,
            contract: &contract,
            round_id,
            participant: addr.as_str(),
        }
        .digest(&commitment);
        let valid = deps
            .api
            .secp256k1_verify(
                &digest,
                c.signature.as_slice(),
                participant.pubkey.as_slice(),
            )
            .unwrap_or(false);
        if !valid {
            return Err(ContractError::BadSignature {
                index,
                participant: c.participant,
            });
        }
        COMMITMENTS.set(
            deps.storage,
            round_id,
            &canon,
            &encode_commitment(&StoredCommitment {
                commitment,
                committed_at: env.block.height,
            }),
        );
        stored += 1;
    }
    round.committed += stored;
    if stored > 0 {
        ROUNDS.save(deps.storage, round_id, &round)?;
    }
    Ok(Response::new()
        .add_attribute("action", "commit_updates")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("stored", stored.to_string())
        .add_attribute("committed", round.committed.to_string())
        .add_attribute("skipped", skipped.join(",")))
}
