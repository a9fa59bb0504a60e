//! Batches of signed update commitments, verified on chain against each participant's key.

use cosmwasm_std::{DepsMut, Env, Response};
use fairshare_protocol::commitment::{CommitmentContext, SIGNATURE_LEN, UPDATE_HASH_LEN};
use fairshare_protocol::round_manager::{Phase, SignedCommitment};

use crate::error::ContractError;
use crate::lifecycle::load_round;
use crate::phase;
use crate::state::{Commitment, COMMITMENTS, PARTICIPANTS, ROUNDS, UPDATE_HASHES};
use crate::validate;

/// Verifies and stores a batch; all or nothing, errors name the failing index.
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
    for (index, c) in commitments.into_iter().enumerate() {
        let addr = deps.api.addr_validate(&c.participant)?;
        let participant = PARTICIPANTS
            .may_load(deps.storage, (round_id, &addr))?
            .ok_or_else(|| ContractError::NotParticipant {
                index,
                participant: c.participant.clone(),
                round_id,
            })?;
        if COMMITMENTS.has(deps.storage, (round_id, &addr)) {
            return Err(ContractError::AlreadyCommitted {
                index,
                participant: c.participant,
                round_id,
            });
        }
        validate::length("update_hash", &c.update_hash, UPDATE_HASH_LEN)?;
        validate::length("signature", &c.signature, SIGNATURE_LEN)?;
        if UPDATE_HASHES.has(deps.storage, (round_id, c.update_hash.as_slice())) {
            return Err(ContractError::DuplicateUpdate {
                index,
                hash: c.update_hash.to_hex(),
                round_id,
            });
        }
        let hash: [u8; UPDATE_HASH_LEN] =
            c.update_hash
                .to_array()
                .map_err(|_| ContractError::BadLength {
                    field: "update_hash",
                    expected: 32,
                    got: c.update_hash.len(),
                })?;
        let digest = CommitmentContext {
            chain_id: &env.block.chain_id,
            contract: &contract,
            round_id,
            participant: addr.as_str(),
        }
        .digest(&hash);
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
        UPDATE_HASHES.save(deps.storage, (round_id, c.update_hash.as_slice()), &addr)?;
        COMMITMENTS.save(
            deps.storage,
            (round_id, &addr),
            &Commitment {
                update_hash: c.update_hash,
                committed_at: env.block.height,
            },
        )?;
        round.committed += 1;
    }
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "commit_updates")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("committed", round.committed.to_string()))
}
