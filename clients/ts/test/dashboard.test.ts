// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a wasmd
// localnet that holds a Fairshare deployment with a settled round (what `make e2e` leaves).
//
// Checks: the rounds table shows the figures of `fairshare round status --json`; a round's page
// shows every participant's settled reward and slash as the chain has them; a vote cast from the
// page (development signer) changes the proposal's tally on chain; staking from the page through
// a Keplr-compatible `window.keplr` (backed here by a cosmjs wallet) changes the stake on chain;
// phone width does not overflow; a wrong contract address and a node that is down each show a
// clear message. Screenshots go to $FAIRSHARE_SHOTS (default target/dashboard).
//
// Environment: FAIRSHARE_BIN (the `fairshare` binary), CHROMIUM (default /usr/bin/chromium),
// FAIRSHARE_RPC (default http://127.0.0.1:26657).

import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CosmWasmClient, SigningCosmWasmClient } from "@cosmjs/cosmwasm-stargate";
import { DirectSecp256k1HdWallet, makeSignDoc } from "@cosmjs/proto-signing";
import { chromium, type Browser, type Page } from "playwright-core";
import {
  DaoQueryClient,
  IncentiveTokenClient,
  RoundManagerQueryClient,
  fromCosmjs,
  hookMsg,
} from "../src/index.js";

const repo = resolve(__dirname, "../../../..");
const rpc = process.env.FAIRSHARE_RPC ?? "http://127.0.0.1:26657";
const bin = process.env.FAIRSHARE_BIN ?? join(repo, "target/debug/fairshare");
const shots = resolve(process.env.FAIRSHARE_SHOTS ?? join(repo, "target/dashboard"));
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });

// ------------------------------------------------------------------ the localnet's test keys
function mnemonicOf(name: string): string {
  const toml = readFileSync(join(repo, "localnet/accounts.toml"), "utf-8");
  const block = toml.split("[[account]]").find((b) => new RegExp(`name = "${name}"`).test(b));
  const m = block?.match(/mnemonic = "([^"]+)"/);
  if (!m) throw new Error(`no account ${name} in localnet/accounts.toml`);
  return m[1];
}
const wallet = (name: string) => DirectSecp256k1HdWallet.fromMnemonic(mnemonicOf(name), { prefix: "wasm" });

// ------------------------------------------------------------------ find a deployment on the node
interface Found {
  roundManager: string;
  dao: string;
  escrow: string;
  token: string;
  operator: string;
  treasury: string;
  round: number;
}

async function findDeployment(client: CosmWasmClient): Promise<Found> {
  const byLabel = new Map<string, string[]>();
  for (const code of await client.getCodes()) {
    for (const address of await client.getContracts(code.id)) {
      const { label } = await client.getContract(address);
      byLabel.set(label, [...(byLabel.get(label) ?? []), address]);
    }
  }
  const daos = new Set(byLabel.get("fairshare-dao") ?? []);
  for (const rm of [...(byLabel.get("fairshare-round-manager") ?? [])].reverse()) {
    const q = new RoundManagerQueryClient(client, rm);
    const cfg = await q.config();
    if (!daos.has(cfg.owner) || !cfg.escrow) continue;
    const settled = (await q.rounds({})).rounds.filter((r) => r.settlement && r.joined >= 2);
    if (settled.length === 0) continue;
    const daoCfg = await new DaoQueryClient(client, cfg.owner).config();
    const escrowCfg = await client.queryContractSmart(cfg.escrow, { config: {} });
    return {
      roundManager: rm,
      dao: cfg.owner,
      escrow: cfg.escrow,
      token: daoCfg.token,
      operator: cfg.operator ?? cfg.owner,
      treasury: escrowCfg.treasury,
      round: settled[settled.length - 1].id,
    };
  }
  throw new Error(`no Fairshare deployment with a DAO and a settled round on ${rpc}: run \`make e2e\` first`);
}

// ------------------------------------------------------------------ the dashboard process
function writeConfig(dir: string, rpcUrl: string, d?: Found): string {
  const deployment = join(dir, "deployment.json");
  if (d) {
    writeFileSync(deployment, JSON.stringify({
      chain_id: "fairshare-local-1", owner: d.dao, operator: d.operator, treasury: d.treasury,
      round_manager: d.roundManager, escrow: d.escrow, token: d.token, dao: d.dao, code_ids: [],
    }));
  }
  const config = join(dir, "fairshare.toml");
  writeFileSync(config, `rpc = ${JSON.stringify(rpcUrl)}\naccounts = ${JSON.stringify(join(repo, "localnet/accounts.toml"))}\n` +
    `deployment = ${JSON.stringify(deployment)}\n`);
  return config;
}

const children: ChildProcess[] = [];
const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
function cleanUp(): void {
  for (const c of children) c.kill("SIGINT");
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
async function startDashboard(config: string, port: number, extra: string[] = []): Promise<string> {
  const child = spawn(bin, ["--config", config, "dashboard", "--listen", `127.0.0.1:${port}`, ...extra], { stdio: ["ignore", "inherit", "inherit"] });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`fairshare dashboard exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/`)).ok) return url;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("fairshare dashboard did not start");
}

async function textOf(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent()) ?? "").trim();
}

const num = (s: string) => s.replace(/,/g, "");

// ------------------------------------------------------------------ the test
async function main(): Promise<void> {
  const client = await CosmWasmClient.connect(rpc);
  const d = await findDeployment(client);
  console.log(`deployment: round-manager ${d.roundManager}, DAO ${d.dao}, settled round ${d.round}`);
  const dir = tempDir("fairshare-dashboard-");
  const config = writeConfig(dir, rpc, d);

  // What the command line says about the round.
  const status = JSON.parse(execFileSync(bin, ["--config", config, "--json", "round", "status", String(d.round)], { encoding: "utf-8" }));

  // A proposal to vote on: the deployer stakes (if it has no power) and proposes.
  const deployerWallet = await wallet("deployer");
  const [deployer] = await deployerWallet.getAccounts();
  const signing = await SigningCosmWasmClient.connectWithSigner(rpc, deployerWallet);
  const token = new IncentiveTokenClient(fromCosmjs(signing), deployer.address, d.token);
  const fee = { amount: [], gas: "600000" }; // the localnet's minimum gas price is zero
  const dao = new DaoQueryClient(client, d.dao);
  const daoCfg = await dao.config();
  if ((await dao.stake({ address: deployer.address })).staked === "0") {
    await token.send({ contract: d.dao, amount: "100000", msg: hookMsg({ stake: {} }) }, fee);
  }
  let proposalId = 0;
  for (let i = 0; i < 40 && proposalId === 0; i++) {
    try {
      const res = await token.send({
        contract: d.dao,
        amount: daoCfg.deposit,
        msg: hookMsg({ propose: { title: "Browser test: a signalling proposal", description: "Opened by clients/ts/test/dashboard.test.ts to be voted on from the page.", msgs: [] } }),
      }, fee);
      const attr = res.events.flatMap((e: { attributes: { key: string; value: string }[] }) => e.attributes).find((a: { key: string }) => a.key === "proposal_id");
      proposalId = Number(attr?.value);
    } catch (e) {
      if (!String(e).includes("staked")) throw e;
      await new Promise((r) => setTimeout(r, 500)); // power counts from the block after the stake
    }
  }
  assert.ok(proposalId > 0, "a proposal was opened");
  const before = await dao.proposal({ proposalId });
  assert.equal(before.status, "open");

  const url = await startDashboard(config, 18686, ["--dev-signer"]);
  const browser: Browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    // --- desktop: the rounds table against `fairshare round status --json`
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    const t0 = Date.now();
    await page.goto(`${url}/#/rounds`);
    await page.waitForSelector(`body[data-ready="true"] tr[data-round="${d.round}"]`);
    console.log(`rounds page ready in ${Date.now() - t0} ms`);
    const row = `tr[data-round="${d.round}"]`;
    assert.equal(await textOf(page, `${row} [data-field="phase"]`), String(status.phase).replace(/_/g, " "));
    for (const f of ["joined", "committed", "evaluators_bonded"]) {
      assert.equal(await textOf(page, `${row} [data-field="${f}"]`), String(status[f]), f);
    }
    assert.equal(await textOf(page, `${row} [data-field="reports"]`), `${status.reports} / ${status.params.evaluator_quorum}`);
    for (const f of ["join_until", "commit_until", "report_until", "reveal_until", "dispute_until", "settle_until"]) {
      assert.equal(await textOf(page, `${row} [data-field="${f}"]`), String(status.deadlines[f]), f);
    }
    assert.equal(num(await textOf(page, `${row} [data-field="pool"]`)), status.settlement.pool);
    await page.screenshot({ path: join(shots, "rounds-desktop.png"), fullPage: true });

    // --- a round's page: rewards and slashes as settled on chain
    await page.goto(`${url}/#/round/${d.round}`);
    await page.waitForSelector("#participants tbody tr[data-participant]");
    const results = (await new RoundManagerQueryClient(client, d.roundManager).results({ roundId: d.round })).results;
    assert.equal(await page.locator("#participants tbody tr[data-participant]").count(), results.length);
    for (const r of results) {
      const tr = `#participants tr[data-participant="${r.participant}"]`;
      assert.equal(num(await textOf(page, `${tr} [data-field="reward"]`)), r.reward, `reward of ${r.participant}`);
      assert.equal(num(await textOf(page, `${tr} [data-field="slash"]`)), r.slash, `slash of ${r.participant}`);
      assert.equal(await textOf(page, `${tr} [data-field="verdict"]`), r.verdict.replace(/_/g, " "));
    }
    assert.ok(await page.locator("#evaluators tbody tr[data-evaluator]").count() >= 1, "evaluators listed");
    await page.screenshot({ path: join(shots, "round-desktop.png"), fullPage: true });

    // --- a participant's rewards against Shapley values
    await page.goto(`${url}/#/participant/${results[0].participant}`);
    await page.waitForSelector("#reward-chart rect");
    await page.screenshot({ path: join(shots, "participant-desktop.png"), fullPage: true });

    // --- DAO: vote yes from the page with the development signer
    await page.goto(`${url}/#/dao`);
    await page.waitForSelector(`[data-proposal="${proposalId}"]`);
    await page.selectOption("#signer", "dev:deployer");
    assert.ok(await page.locator("#dev-banner").isVisible(), "the development signer is marked");
    const voteButton = page.locator(`[data-proposal="${proposalId}"] button[data-vote="yes"]`);
    await voteButton.waitFor();
    await voteButton.click();
    await page.waitForSelector("#notice:has-text('Done: vote yes')", { timeout: 60_000 });
    const after = await dao.proposal({ proposalId });
    const power = await dao.votingPower({ address: deployer.address, height: before.start_height });
    assert.equal(BigInt(after.tally.yes) - BigInt(before.tally.yes), BigInt(power.power), "the vote counts the voter's power");
    assert.ok(BigInt(power.power) > 0n);
    assert.equal(num(await textOf(page, `[data-proposal="${proposalId}"] [data-field="yes"]`)), after.tally.yes, "the page shows the new tally");
    await page.screenshot({ path: join(shots, "dao-desktop.png"), fullPage: true });
    await page.goto(`${url}/#/treasury`);
    await page.waitForSelector('[data-field="total_supply"]');
    const supply = await client.queryContractSmart(d.token, { token_info: {} });
    assert.equal(num(await textOf(page, '[data-field="total_supply"]')), supply.total_supply);
    await page.screenshot({ path: join(shots, "treasury-desktop.png"), fullPage: true });
    assert.deepEqual(pageErrors, [], "no script errors on the page");
    await page.close();

    // --- staking through a Keplr-compatible window.keplr (a cosmjs wallet behind it)
    const keplrPage = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await keplrPage.exposeFunction("__walletAccounts", async () => {
      const accts = await deployerWallet.getAccounts();
      return accts.map((a) => ({ address: a.address, pubkey: Buffer.from(a.pubkey).toString("base64") }));
    });
    await keplrPage.exposeFunction("__walletSignDirect", async (address: string, doc: { body: string; auth: string; chainId: string; accountNumber: string }) => {
      const signDoc = makeSignDoc(Buffer.from(doc.body, "base64"), Buffer.from(doc.auth, "base64"), doc.chainId, BigInt(doc.accountNumber));
      const { signed, signature } = await deployerWallet.signDirect(address, signDoc);
      return { body: Buffer.from(signed.bodyBytes).toString("base64"), auth: Buffer.from(signed.authInfoBytes).toString("base64"), signature };
    });
    await keplrPage.addInitScript(() => {
      const b64 = (u: Uint8Array) => btoa(String.fromCharCode(...u));
      const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
      const w = window as unknown as Record<string, any>;
      w.keplr = {
        enable: async () => undefined,
        getOfflineSigner: () => ({
          getAccounts: async () => (await w.__walletAccounts()).map((a: { address: string; pubkey: string }) => ({ address: a.address, algo: "secp256k1", pubkey: unb64(a.pubkey) })),
          signDirect: async (address: string, doc: { bodyBytes: Uint8Array; authInfoBytes: Uint8Array; chainId: string; accountNumber: bigint }) => {
            const r = await w.__walletSignDirect(address, { body: b64(doc.bodyBytes), auth: b64(doc.authInfoBytes), chainId: doc.chainId, accountNumber: String(doc.accountNumber) });
            return { signed: { ...doc, bodyBytes: unb64(r.body), authInfoBytes: unb64(r.auth) }, signature: r.signature };
          },
        }),
      };
    });
    const stakeBefore = BigInt((await dao.stake({ address: deployer.address })).staked);
    await keplrPage.goto(`${url}/#/dao`);
    await keplrPage.waitForSelector('body[data-ready="true"]');
    await keplrPage.selectOption("#signer", "keplr");
    assert.ok(!(await keplrPage.locator("#dev-banner").isVisible()), "no development banner with a wallet");
    await keplrPage.waitForSelector("#stake-form");
    await keplrPage.fill("#stake-amount", "1234");
    await keplrPage.click("#stake-form button");
    await keplrPage.waitForSelector("#notice:has-text('Done: stake 1234')", { timeout: 60_000 });
    const stakeAfter = BigInt((await dao.stake({ address: deployer.address })).staked);
    assert.equal(stakeAfter - stakeBefore, 1234n, "the stake grew by what the page sent");
    await keplrPage.close();

    // --- phone width
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    for (const [hash, name, ready] of [["#/rounds", "rounds", "#rounds"], [`#/round/${d.round}`, "round", "#participants"], ["#/dao", "dao", ".proposal"]]) {
      await phone.goto(`${url}/${hash}`);
      await phone.waitForSelector('body[data-ready="true"]');
      await phone.waitForSelector(ready);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than a phone`);
      await phone.screenshot({ path: join(shots, `${name}-phone.png`), fullPage: true });
    }
    await phone.close();

    // --- a wrong contract address, and a node that is down: clear messages, not a blank page
    const wrong = await startDashboard(config, 18687, ["--round-manager", deployer.address]);
    const p1 = await browser.newPage({ viewport: { width: 1280, height: 600 } });
    await p1.goto(wrong);
    await p1.waitForSelector('#problem[data-kind="bad_contract"]');
    assert.match(await textOf(p1, "#problem"), /no round-manager contract answers at/);
    await p1.screenshot({ path: join(shots, "wrong-contract.png") });
    const downConfig = writeConfig(tempDir("fairshare-dashboard-down-"), "http://127.0.0.1:9", d);
    const down = await startDashboard(downConfig, 18688);
    await p1.goto(down);
    await p1.waitForSelector('#problem[data-kind="node_down"]');
    assert.match(await textOf(p1, "#problem"), /cannot reach the node at http:\/\/127\.0\.0\.1:9/);
    await p1.screenshot({ path: join(shots, "node-down.png") });
    await p1.close();
  } finally {
    await browser.close();
    cleanUp();
  }
  console.log(`dashboard browser test passed; screenshots in ${shots}`);
}

main().catch((e) => {
  cleanUp();
  console.error(e);
  process.exit(1);
});
