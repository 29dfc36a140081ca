/**
 * The datasets `mnist` knows: their four files, pinned by the SHA-256 and size of the
 * DECOMPRESSED bytes (mirrors differ in gzip headers and levels, never in content), and the
 * mirrors to fetch them from, in order.
 */

/** `--dataset`: the digits, or Zalando's Fashion-MNIST in the same format. */
export type DatasetName = "mnist" | "fashion";

/** The dataset names, for option validation. */
export const DATASET_NAMES: readonly DatasetName[] = ["mnist", "fashion"];

/** Which of the four files. */
export type FileRole = "trainImages" | "trainLabels" | "testImages" | "testLabels";

/** One file of a dataset. */
export interface FileSpec {
  /** Which split and which half (images or labels) the file holds. */
  role: FileRole;
  /** The canonical name, the same on every mirror and in the data directory. */
  name: string;
  /** SHA-256 of the decompressed IDX bytes, lower-case hex. */
  sha256: string;
  /** Size of the decompressed IDX bytes. */
  size: number;
}

/** A dataset: where its files live and what they must contain. */
export interface DatasetSpec {
  /** The `--dataset` name. */
  name: DatasetName;
  /** Its name in messages: "MNIST", "Fashion-MNIST". */
  title: string;
  /** Subdirectory of the data directory; MNIST's files sit at the top, as in ../shared/mnist. */
  subdir: string;
  /** Its four files: training images and labels, test images and labels. */
  files: FileSpec[];
  /** Base URLs (ending in "/") that hold the four `.gz` files, tried in order. */
  mirrors: string[];
  /** Class names, for display: digits for MNIST, garment names for Fashion-MNIST. */
  classes: string[];
}

/** The datasets, by name. */
export const DATASETS: Record<DatasetName, DatasetSpec> = {
  mnist: {
    name: "mnist",
    title: "MNIST",
    subdir: "",
    files: [
      {
        role: "trainImages",
        name: "train-images-idx3-ubyte.gz",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        size: 47_040_016,
      },
      {
        role: "trainLabels",
        name: "train-labels-idx1-ubyte.gz",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        size: 60_008,
      },
      {
        role: "testImages",
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        size: 7_840_016,
      },
      {
        role: "testLabels",
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        size: 10_008,
      },
    ],
    mirrors: [
      "https://ossci-datasets.s3.amazonaws.com/mnist/", // torchvision's
      "https://storage.googleapis.com/cvdf-datasets/mnist/", // TensorFlow's
      "http://yann.lecun.com/exdb/mnist/", // the original, often down
    ],
    classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  },
  fashion: {
    name: "fashion",
    title: "Fashion-MNIST",
    subdir: "fashion",
    files: [
      {
        role: "trainImages",
        name: "train-images-idx3-ubyte.gz",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        size: 47_040_016,
      },
      {
        role: "trainLabels",
        name: "train-labels-idx1-ubyte.gz",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        size: 60_008,
      },
      {
        role: "testImages",
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        size: 7_840_016,
      },
      {
        role: "testLabels",
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        size: 10_008,
      },
    ],
    mirrors: [
      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", // Zalando's
      "https://storage.googleapis.com/tensorflow/tf-keras-datasets/", // Keras'
    ],
    classes: [
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot",
    ],
  },
};

/** The directory holding `dataset`'s files inside the data directory. */
export function datasetDir(dataDir: string, dataset: DatasetName): string {
  const sub = DATASETS[dataset].subdir;
  return sub ? `${dataDir}/${sub}` : dataDir;
}
