// cosmjs' SigningCosmWasmClient behind the generated clients' signing interface (ts-codegen's
// interface makes the fee optional; cosmjs wants one: "auto" when none is given).
import type { SigningCosmWasmClient } from "@cosmjs/cosmwasm-stargate";
import type { ISigningCosmWasmClient } from "./contracts/baseClient.js";

type Exec = SigningCosmWasmClient["execute"];

export function fromCosmjs(client: SigningCosmWasmClient): ISigningCosmWasmClient {
  return {
    queryContractSmart: (address, query) => client.queryContractSmart(address, query),
    execute: (sender, contract, msg, fee, memo, funds) =>
      client.execute(sender, contract, msg, (fee ?? "auto") as Parameters<Exec>[3], memo, funds as Parameters<Exec>[5]),
  };
}
