/**
 * What the tests that drive Debian's headless Chromium share: where it is, whether it is there,
 * and playwright-core's import.
 */

/** Debian's chromium (`apt-get install chromium`), the browser these tests launch. */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether `CHROMIUM` is installed: the browser tests are skipped where it is not. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/**
 * playwright-core, imported. It bundles is-wsl, which at import probes
 * /proc/sys/fs/binfmt_misc/WSLInterop, a path Deno lets a program read only under --allow-all,
 * more than the test task grants. Its test switch __IS_WSL_TEST__ postpones the probe to a call
 * (opening URLs on WSL) that launching chromium never makes.
 */
export async function importPlaywright(): Promise<typeof import("playwright-core")> {
  Deno.env.set("__IS_WSL_TEST__", "1");
  try {
    return await import("playwright-core");
  } finally {
    Deno.env.delete("__IS_WSL_TEST__");
  }
}
