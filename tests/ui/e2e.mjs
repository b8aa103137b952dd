// The web UI in a real browser (Debian's Chromium, driven by playwright-core): sign in, open
// the tool list, launch the example tool from its generated form (a dry run first), watch the
// run finish on its page, read its live logs and outputs, browse a data root and pick a file
// into the form, then the runs table, an image page with its Scan button, the audit trail,
// records, users and projects, every page at 390 px wide and every page under the real
// Content-Security-Policy, a refused sign-in and signing out (the pages' forms and scripts
// carry the session's CSRF token).
// Screenshots go to $BERTH_UI_SHOTS.
//
// Environment: BERTH_URL, BERTH_TOKEN (a user), BERTH_ADMIN_TOKEN, BERTH_INPUT (a file in the
// user's project), BERTH_IMAGE (an image reference). The pages send a strict Content-Security-Policy;
// the contexts bypass it only because Playwright's waitForFunction evaluates strings.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { createHash } from "node:crypto";

const require = createRequire(process.env.BERTH_NODE_MODULES + "/");
const { chromium } = require("playwright-core");

const url = process.env.BERTH_URL;
const shots = process.env.BERTH_UI_SHOTS;
mkdirSync(shots, { recursive: true });

function check(cond, what) {
  if (!cond) throw new Error("UI check failed: " + what);
  console.log("ok - " + what);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const errors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, bypassCSP: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));

  // Unauthenticated pages send you to the sign-in page; a wrong token is refused.
  await page.goto(url + "/ui/runs");
  check(page.url().endsWith("/login"), "signed-out visitors land on the sign-in page");
  await page.fill("#token", "berth_not_a_token");
  await page.click("button[type=submit]");
  check((await page.textContent(".error")).includes("not valid"), "a wrong token is refused with a message");
  await page.screenshot({ path: shots + "/01-login-refused.png" });

  await page.fill("#token", process.env.BERTH_TOKEN);
  await page.click("button[type=submit]");
  await page.waitForURL("**/ui/runs");
  check(true, "signed in");

  // The tool list, and the form generated from the descriptor.
  await page.click("nav >> text=Tools");
  await page.waitForSelector("#tools");
  await page.screenshot({ path: shots + "/02-tools.png" });
  await page.click("tr[data-tool=checksum] >> text=Launch");
  await page.waitForSelector("#launch-form");
  check(await page.isVisible(".field[data-input=input] label >> text=*"), "the required File input is marked required");
  check((await page.inputValue("#in-name")) === "sum", "the default value is filled in");
  // Launching without the required input is refused in the page.
  await page.click("#launch");
  await page.waitForSelector("#launch-result pre.error");
  const missing = await page.textContent("#launch-result");
  check(missing.includes("input is required"), "a missing required input is named: " + missing);
  await page.fill("#in-input", process.env.BERTH_INPUT);
  await page.click("#dry-run");
  await page.waitForSelector("#dry-run-command");
  const command = await page.textContent("#dry-run-command");
  check(command.includes("sha256sum /"), "the dry run shows the rendered command: " + command);
  await page.screenshot({ path: shots + "/03-launch-form-dry-run.png" });
  // A path outside the project's data roots: the server's message is shown.
  await page.fill("#in-input", "/etc/passwd");
  await page.click("#dry-run");
  await page.waitForSelector("#launch-error");
  check((await page.textContent("#launch-error")).includes("outside the data roots"), "an input outside the data roots is refused");
  await page.fill("#in-input", process.env.BERTH_INPUT);

  // Launch, then watch the run page go to succeeded with its logs.
  await page.click("#launch");
  await page.waitForURL("**/ui/runs/*");
  await page.waitForSelector("#status.succeeded[data-terminal=true]", { timeout: 120000 });
  check(true, "the run page shows the run succeeded");
  await page.waitForSelector("#provenance", { timeout: 30000 });
  const prov = await page.textContent("#provenance");
  check(prov.includes("sha256:"), "the provenance shows the image and descriptor hashes");
  const files = await page.textContent("#files");
  check(files.includes("input") && files.includes("output"), "inputs and outputs are listed with their hashes");
  await page.screenshot({ path: shots + "/04-run-succeeded.png", fullPage: true });
  const runUrl = page.url();
  // Its outputs: listed with a download link each, a text preview, and all of them as one archive.
  await page.waitForSelector("#outputs");
  check(await page.isVisible("#download-all"), "the run page offers all outputs as one archive");
  check(await page.isVisible("#outputs pre.preview"), "a small text output is previewed in the page");
  const dl = await page.$eval("#outputs a[download]", (a) => a.href);
  const got = await page.request.get(dl);
  check(got.ok(), "an output downloads (" + got.status() + ")");
  // Its bytes are what the provenance record says they are.
  const runId = runUrl.split("/").pop();
  const detail = await (await page.request.get(url + "/api/v1/runs/" + runId)).json();
  const recorded = detail.provenance.record.files.filter((f) => f.role === "output" && f.sha256);
  const sha = createHash("sha256").update(await got.body()).digest("hex");
  check(recorded.some((f) => f.sha256 === sha), "the downloaded output's SHA-256 is the recorded one (" + sha.slice(0, 16) + ")");

  // The data browser: the project's root, a link shown and not followed; pick a file into the form.
  await page.click("nav >> text=Data");
  await page.waitForSelector("#projects");
  await page.click("#projects a");
  await page.waitForSelector("#files");
  check((await page.textContent("#files tr[data-kind=link]")).includes("not followed"), "a link in a data root is listed, not followed");
  await page.screenshot({ path: shots + "/04b-data-browser.png" });
  await page.goto(url + "/ui/tools/checksum/launch");
  await page.click("#browse-input");
  await page.waitForSelector("#picking");
  await page.click("tr[data-kind=file]:has-text('scan.txt') a.pick");
  await page.waitForSelector("#launch-form");
  const picked = await page.inputValue("#in-input");
  check(picked === process.env.BERTH_INPUT, "the picked file fills the launch form (" + picked + ")");

  // A tool that prints: live logs on its run page.
  await page.goto(url + "/ui/tools/sleeper/launch");
  await page.fill("#in-seconds", "2");
  await page.click("#launch");
  await page.waitForURL("**/ui/runs/*");
  await page.waitForFunction(() => document.querySelector("#log-stdout").textContent.includes("start"), null, { timeout: 60000 });
  check(true, "live stdout arrives while the run goes on");
  await page.waitForFunction(() => document.querySelector("#log-stdout").textContent.includes("finished"), null, { timeout: 60000 });
  check(true, "the live log follows the run to its end");
  await page.waitForSelector("#status.succeeded[data-terminal=true]", { timeout: 60000 });
  await page.waitForFunction(() => document.querySelector("#log-stdout").textContent.includes("finished"), null, { timeout: 60000 });
  await page.screenshot({ path: shots + "/05-run-live-logs.png", fullPage: true });

  // The runs table, updated live.
  await page.click("nav >> text=Runs");
  await page.waitForSelector("#runs tbody tr");
  const rows = await page.$$eval("#runs tbody tr", (trs) => trs.length);
  check(rows >= 2, "the runs table lists the runs (" + rows + ")");
  await page.screenshot({ path: shots + "/06-runs.png" });

  // An admin's image page with the latest scan's severity chart.
  const admin = await browser.newContext({ viewport: { width: 1280, height: 860 }, bypassCSP: true });
  const apage = await admin.newPage();
  apage.on("pageerror", (e) => errors.push(String(e)));
  await apage.goto(url + "/login");
  await apage.fill("#token", process.env.BERTH_ADMIN_TOKEN);
  await apage.click("button[type=submit]");
  await apage.waitForURL("**/ui/runs");
  await apage.click("nav >> text=Images");
  await apage.waitForSelector("#images");
  await apage.screenshot({ path: shots + "/07-images.png" });
  await apage.goto(url + "/ui/images/view?reference=" + encodeURIComponent(process.env.BERTH_IMAGE));
  await apage.waitForSelector("#severity-chart");
  check(await apage.isVisible("#severity-chart rect"), "the image page shows the severity chart of its latest scan");
  await apage.screenshot({ path: shots + "/08-image-scan.png", fullPage: true });

  // The audit trail, every record, users and projects.
  await apage.click("nav >> text=Audit");
  await apage.waitForSelector("#audit-check");
  check((await apage.textContent("#audit-check")).includes("Chain intact"), "the audit page checks the chain");
  const entries = await apage.$$eval("#audit tbody tr", (trs) => trs.length);
  check(entries > 5, "the audit page lists entries (" + entries + ")");
  await apage.selectOption("select[name=action]", "launch");
  await apage.click("form.filters button[type=submit]");
  await apage.waitForSelector("#audit");
  const actions = await apage.$$eval("#audit tbody tr td:nth-child(6)", (tds) => tds.map((t) => t.textContent));
  check(actions.length > 0 && actions.every((a) => a === "launch"), "the audit page filters by action");
  await apage.screenshot({ path: shots + "/09-audit.png", fullPage: true });
  await apage.click("nav >> text=Records");
  await apage.waitForSelector("#records tbody tr");
  await apage.click("#records tbody tr a");
  await apage.waitForSelector("#record");
  check(await apage.isVisible("#log-stdout"), "a record page shows its logs");
  await apage.click("nav >> text=Users");
  await apage.waitForSelector("#users");
  await apage.click("tr[data-user=bob] form.new-token-form button");
  await apage.waitForSelector("#new-token pre");
  check((await apage.textContent("#new-token pre")).trim().length > 20, "a new token is shown once in the page");
  await apage.screenshot({ path: shots + "/10-admin.png", fullPage: true });
  await apage.goto(url + "/ui/images/view?reference=" + encodeURIComponent(process.env.BERTH_IMAGE));
  await apage.click("#scan-button");
  await apage.waitForSelector("#severity-chart", { timeout: 120000 });
  check(true, "the image page's Scan button scans and shows the result");

  // A pipeline started from its page: the form made from the file, then its run page until it succeeds.
  await apage.click("nav >> text=Pipelines");
  await apage.click("#pipeline-files a:has-text('ui-e2e.yaml')");
  await apage.waitForSelector("#pipeline-form");
  check((await apage.inputValue("#param-greeting")) === "hello", "the pipeline form shows the parameters with their defaults");
  await apage.screenshot({ path: shots + "/11-pipeline-form.png", fullPage: true });
  await apage.click("#start-pipeline");
  await apage.waitForURL("**/ui/pipelines");
  await apage.click("table.list tbody tr a");
  await apage.waitForSelector("#status.succeeded", { timeout: 120000 });
  check(await apage.isVisible("#timeline rect"), "the pipeline run page shows its timeline and ends succeeded");
  await apage.screenshot({ path: shots + "/12-pipeline-run.png", fullPage: true });
  const pipelineUrl = apage.url();

  // A phone-sized window: no page scrolls sideways (tables scroll inside their box).
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true });
  const ppage = await phone.newPage();
  await ppage.goto(url + "/login");
  await ppage.fill("#token", process.env.BERTH_TOKEN);
  await ppage.click("button[type=submit]");
  await ppage.waitForURL("**/ui/runs");
  async function fits(p, name, path) {
    await p.goto(url + path);
    const [scroll, width] = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    check(scroll <= width + 1, "at 390 px the " + name + " page fits (" + scroll + " <= " + width + ")");
    await p.screenshot({ path: shots + "/390-" + name + ".png", fullPage: true });
  }
  for (const [name, path] of [["runs", "/ui/runs"], ["run", runUrl.replace(url, "")], ["tools", "/ui/tools"],
                              ["data", "/ui/data"], ["files", "/ui/projects/p1/files"], ["launch", "/ui/tools/checksum/launch"]]) {
    await fits(ppage, name, path);
  }
  const aphone = await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true });
  const appage = await aphone.newPage();
  await appage.goto(url + "/login");
  await appage.fill("#token", process.env.BERTH_ADMIN_TOKEN);
  await appage.click("button[type=submit]");
  await appage.waitForURL("**/ui/runs");
  for (const [name, path] of [["images", "/ui/images"], ["image", "/ui/images/view?reference=" + encodeURIComponent(process.env.BERTH_IMAGE)],
                              ["pipelines", "/ui/pipelines"], ["pipeline-run", pipelineUrl.replace(url, "")], ["records", "/ui/records"],
                              ["audit", "/ui/audit"], ["admin", "/ui/admin"]]) {
    await fits(appage, name, path);
  }

  // Every page under the real Content-Security-Policy: no violation (an admin sees them all).
  const strict = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const spage = await strict.newPage();
  const violations = [];
  spage.on("console", (m) => { if (m.type() === "error" && /Content Security Policy/i.test(m.text())) violations.push(spage.url() + ": " + m.text()); });
  spage.on("pageerror", (e) => errors.push(String(e)));
  await spage.goto(url + "/login");
  await spage.fill("#token", process.env.BERTH_ADMIN_TOKEN);
  await spage.click("button[type=submit]");
  await spage.waitForURL("**/ui/runs");
  const pages = ["/ui/runs", runUrl.replace(url, ""), "/ui/tools", "/ui/tools/checksum/launch", "/ui/data",
                 "/ui/projects/p1/files", "/ui/images", "/ui/images/view?reference=" + encodeURIComponent(process.env.BERTH_IMAGE),
                 "/ui/pipelines", pipelineUrl.replace(url, ""), "/ui/records", "/ui/audit", "/ui/admin", "/ui/no-such-page"];
  for (const p of pages) {
    await spage.goto(url + p);
    await spage.waitForLoadState("load");
  }
  check(violations.length === 0, "no Content-Security-Policy violation on " + pages.length + " pages (" + violations.join("; ") + ")");

  // Signing out (a form carrying the session's CSRF token) ends the session.
  await page.click("form.who button[type=submit]");
  await page.waitForURL("**/login");
  await page.goto(url + "/ui/runs");
  check(page.url().endsWith("/login"), "after signing out the session is gone");

  check(errors.length === 0, "no script errors in the pages (" + errors.join("; ") + ")");
} finally {
  await browser.close();
}
