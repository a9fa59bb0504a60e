// Typed clients of the Fairshare contracts. The clients take any CosmWasm client with
// `queryContractSmart` (and `execute` for signing), e.g. cosmjs' CosmWasmClient and
// SigningCosmWasmClient. Generated code lives in ./contracts (run `make clients`).
export * as DaoTypes from "./contracts/Dao.types.js";
export * as EscrowTypes from "./contracts/Escrow.types.js";
export * as IncentiveTokenTypes from "./contracts/IncentiveToken.types.js";
export * as RoundManagerTypes from "./contracts/RoundManager.types.js";
export { DaoClient, DaoQueryClient } from "./contracts/Dao.client.js";
export { EscrowClient, EscrowQueryClient } from "./contracts/Escrow.client.js";
export { IncentiveTokenClient, IncentiveTokenQueryClient } from "./contracts/IncentiveToken.client.js";
export { RoundManagerClient, RoundManagerQueryClient } from "./contracts/RoundManager.client.js";
export { DaoMsgComposer } from "./contracts/Dao.message-composer.js";
export { EscrowMsgComposer } from "./contracts/Escrow.message-composer.js";
export { IncentiveTokenMsgComposer } from "./contracts/IncentiveToken.message-composer.js";
export { RoundManagerMsgComposer } from "./contracts/RoundManager.message-composer.js";
export type { DaoReceiveMsg } from "./contracts/Dao.receive.js";
export type { EscrowReceiveMsg } from "./contracts/Escrow.receive.js";
export { hookMsg } from "./hooks.js";
export { fromCosmjs } from "./cosmjs.js";
