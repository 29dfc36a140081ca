/**
 * CRC-32 for tests that build PNG chunks by hand (corrupt or unusual files the encoder never
 * writes): IEEE 802.3, reflected polynomial 0xEDB88320, bit by bit.
 */

/** The CRC-32 of `bytes`, as PNG chunks and zip files use it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}
