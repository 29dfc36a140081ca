/**
 * Where the tests find the datasets: MNIST beside the checkout in ../shared/mnist (or
 * $MNIST_TEST_DATA), Fashion-MNIST where Debian's dataset-fashion-mnist installs it (or
 * $FASHION_TEST_DATA). Tests only read these folders; they never write to them.
 */
import { fileURLToPath } from "node:url";

/** The four MNIST .gz files. */
export const MNIST: string = Deno.env.get("MNIST_TEST_DATA") ??
  fileURLToPath(new URL("../../shared/mnist", import.meta.url));

/** The four Fashion-MNIST .gz files. */
export const FASHION: string = Deno.env.get("FASHION_TEST_DATA") ??
  "/usr/share/datasets/fashion-mnist";

function present(dir: string): boolean {
  try {
    return Deno.statSync(`${dir}/t10k-labels-idx1-ubyte.gz`).isFile;
  } catch {
    return false;
  }
}

if (!present(MNIST)) {
  throw new Error(
    `The tests need MNIST's four .gz files in ${MNIST}: set MNIST_TEST_DATA to their folder`,
  );
}

/** Whether Fashion-MNIST is installed (its tests are skipped otherwise). */
export const HAVE_FASHION: boolean = present(FASHION);
