// CW20 Receive hooks: the DAO and the escrow take tokens through the token's `send`, whose `msg`
// is the base64 of a JSON hook message (typed in ./contracts/*.receive.ts from schema/*/raw/).
import type { DaoReceiveMsg } from "./contracts/Dao.receive.js";
import type { EscrowReceiveMsg } from "./contracts/Escrow.receive.js";

/** The `msg` field of a CW20 `send` carrying `hook`: base64 of its JSON. */
export function hookMsg(hook: DaoReceiveMsg | EscrowReceiveMsg): string {
  const bytes = new TextEncoder().encode(JSON.stringify(hook));
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}
