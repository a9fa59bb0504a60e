//! Shared scenario helpers live in fairshare-relayer's embedded chain.
