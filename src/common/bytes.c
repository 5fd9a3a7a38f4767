/* bytes.c -- little-endian field access and CRC-32 for the model format.
 * Byte-by-byte access: correct on any host endianness and alignment. */
#include "internal.h"

void calib__put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
void calib__put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
void calib__put_f64(uint8_t *p, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  calib__put_u64(p, u);
}
uint32_t calib__get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
uint64_t calib__get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
double calib__get_f64(const uint8_t *p) {
  uint64_t u = calib__get_u64(p);
  double v;
  memcpy(&v, &u, 8);
  return v;
}
int calib__host_is_le(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and xorout
 * 0xFFFFFFFF: the zlib/PNG crc32). Nibble table: 64 bytes of rodata, small
 * enough for the firmware core, and fast enough for models of a few KB. */
uint32_t calib__crc32(const void *data, size_t len) {
  static const uint32_t tab[16] = {
      0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
      0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
      0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
  const uint8_t *p = (const uint8_t *)data;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    c ^= p[i];
    c = (c >> 4) ^ tab[c & 15];
    c = (c >> 4) ^ tab[c & 15];
  }
  return c ^ 0xFFFFFFFFu;
}
