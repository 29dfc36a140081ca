/** The tool's version, printed by `mnist --version`. */
export const VERSION = "0.1.0";
