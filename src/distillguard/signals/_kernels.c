/* Byte-level featurize kernels (issue 15): one pass per byte, no temporaries.
 *
 * Each function is the loop the numpy code in textops.py / sketch.py spells as several
 * whole-buffer passes, with the same arithmetic (uint64, wrapping), so the outputs are equal
 * bit for bit; tests/signals/test_ckernels.py compares both on simulated and real text.
 * Compiled on first use by ckernels.py (plain C99, no Python headers); rows are Arrow
 * string buffers: ``data`` bytes and ``n + 1`` int64 offsets.
 */
#include <stdint.h>

#define GOLD 0x9E3779B97F4A7C15ULL
#define MIX1 0xBF58476D1CE4E5B9ULL
#define MIX2 0x94D049BB133111EBULL
#define POLY 0x100000001B3ULL

enum { SEP = 0, WORD = 1, CJK = 2 };

static inline uint64_t splitmix64(uint64_t z) {
    z += GOLD;
    z ^= z >> 30;
    z *= MIX1;
    z ^= z >> 27;
    z *= MIX2;
    z ^= z >> 31;
    return z;
}

static inline int is_ws(uint8_t b) {
    return b == 0x20 || (b >= 0x09 && b <= 0x0D);
}

/* textops.collapse_ws: runs of ASCII whitespace -> one space, leading and trailing removed.
 * ``out`` holds at least data_len bytes; returns the bytes written. */
int64_t dg_collapse_ws(const uint8_t *data, const int64_t *off, int64_t n, uint8_t *out,
                       int64_t *new_off) {
    int64_t o = 0;
    new_off[0] = 0;
    for (int64_t r = 0; r < n; r++) {
        int pending = 0; /* a whitespace run after a kept byte */
        int any = 0;
        for (int64_t i = off[r]; i < off[r + 1]; i++) {
            uint8_t b = data[i];
            if (is_ws(b)) {
                if (any) pending = 1;
            } else {
                if (pending) out[o++] = 0x20;
                pending = 0;
                out[o++] = b;
                any = 1;
            }
        }
        new_off[r + 1] = o;
    }
    return o;
}

static inline uint64_t poly_hash(const uint8_t *p, int64_t len) {
    uint64_t h = 0, pw = 1;
    for (int64_t j = 0; j < len; j++) {
        h += ((uint64_t)p[j] + 1) * pw;
        pw *= POLY;
    }
    return h;
}

static inline uint64_t finish_hash(uint64_t h, int64_t len) {
    uint64_t z = splitmix64(h ^ ((uint64_t)len * GOLD));
    return z ? z : 1;
}

/* sketch.segment_hashes: polynomial hash of each segment, SplitMix64 with its length;
 * empty -> 0, a hash of 0 -> 1. */
void dg_segment_hashes(const uint8_t *data, const int64_t *off, int64_t n, uint64_t *out) {
    for (int64_t r = 0; r < n; r++) {
        int64_t len = off[r + 1] - off[r];
        out[r] = len ? finish_hash(poly_hash(data + off[r], len), len) : 0;
    }
}

/* textops.char_kinds for a lead byte at i (the next bytes read past the end as 0). */
static inline int8_t lead_kind(const uint8_t *data, int64_t len, int64_t i) {
    uint8_t b = data[i];
    if (b < 0x80) {
        return ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A))
                   ? WORD : SEP;
    }
    uint8_t nx = i + 1 < len ? data[i + 1] : 0;
    uint8_t nx2 = i + 2 < len ? data[i + 2] : 0;
    switch (b) {
    case 0xC2: return nx != 0xA7 ? SEP : WORD;
    case 0xC3: return (nx == 0x97 || nx == 0xB7) ? SEP : WORD;
    case 0xD8: return (nx == 0x8C || nx == 0x9B || nx == 0x9F) ? SEP : WORD;
    case 0xE0: return (nx == 0xA5 && (nx2 == 0xA4 || nx2 == 0xA5)) ? SEP : WORD;
    case 0xE2: return SEP;
    case 0xE3: return nx == 0x80 ? SEP : (nx >= 0x81 ? CJK : WORD);
    case 0xEF: return (nx == 0xBC || nx == 0xBD || nx == 0xBF) ? SEP : WORD;
    default: break;
    }
    if (b >= 0xE4 && b <= 0xE9) return CJK;
    if (b >= 0xF0) return SEP;
    return WORD;
}

/* sketch._token_hashes: tokenize (textops.tokenize) and hash each token's bytes; a token
 * holding an ASCII digit hashes as ``slot_hash``. ``hashes`` holds at least data_len values;
 * returns the number of tokens, ``row_tok_off`` (n + 1) the tokens of each row. A token is a
 * run of letter/digit characters, or one CJK character; its bytes are contiguous. */
int64_t dg_token_hashes(const uint8_t *data, int64_t len, const int64_t *off, int64_t n,
                        uint64_t slot_hash, uint64_t *hashes, int64_t *row_tok_off) {
    int64_t t = 0;
    int8_t kind = SEP, prev = SEP; /* kind of this byte's / the previous byte's character */
    row_tok_off[0] = 0;
    for (int64_t r = 0; r < n; r++) {
        int open = 0, digit = 0;
        uint64_t h = 0, pw = 1;
        int64_t tl = 0;
        for (int64_t i = off[r]; i < off[r + 1]; i++) {
            uint8_t b = data[i];
            int start = (b & 0xC0) != 0x80;
            if (start) kind = lead_kind(data, len, i);
            if (start && kind != SEP &&
                (i == off[r] || prev == SEP || kind == CJK || prev == CJK)) {
                if (open) hashes[t++] = digit ? slot_hash : finish_hash(h, tl);
                open = 1;
                digit = 0;
                h = 0;
                pw = 1;
                tl = 0;
            }
            if (kind != SEP && open) {
                h += ((uint64_t)b + 1) * pw;
                pw *= POLY;
                tl++;
                if (b >= 0x30 && b <= 0x39) digit = 1;
            }
            prev = kind;
        }
        if (open) hashes[t++] = digit ? slot_hash : finish_hash(h, tl);
        row_tok_off[r + 1] = t;
    }
    return t;
}

/* sketch.sketch after tokenizing: per row, the skeleton hash, the 2 x bands LSH band keys of
 * the head and tail windows and the two edge keys (``keys``: n x (2 * bands + 2)), and
 * whether the row has edge keys. ``a``, ``b``: the bands x rows MinHash permutations. */
void dg_sketch_rows(const uint64_t *th, const int64_t *row_off, int64_t n, int64_t w,
                    int64_t k, int64_t bands, int64_t rows, int64_t e, const uint64_t *a,
                    const uint64_t *b, uint64_t *skel, uint64_t *keys, uint8_t *has_edge) {
    int64_t np_ = bands * rows, nk = 2 * bands + 2;
    uint64_t mins[4096];
    uint64_t head_raw[1024];
    if (np_ > 4096 || bands > 1024) return; /* the caller checks the sizes */
    for (int64_t r = 0; r < n; r++) {
        const uint64_t *t = th + row_off[r];
        int64_t ntok = row_off[r + 1] - row_off[r];
        uint64_t *key = keys + r * nk;
        for (int64_t j = 0; j < nk; j++) key[j] = 0;
        has_edge[r] = 0;
        skel[r] = 0;
        if (ntok == 0) continue;
        int64_t tail_start = ntok - w > 0 ? ntok - w : 0;
        /* skeleton hash: order-aware sum over head and tail tokens */
        uint64_t sum = 0;
        for (int64_t p = 0; p < ntok; p++) {
            if (p < w) sum += splitmix64(t[p] ^ ((uint64_t)p * GOLD));
            if (p >= tail_start && ntok > w)
                sum += splitmix64(t[p] ^ ((uint64_t)(p - tail_start) * MIX1 + MIX2));
        }
        uint64_t s = splitmix64(sum);
        skel[r] = s ? s : 1;
        /* MinHash of each window's shingles; a short row's tail window is its head */
        int64_t wlen = ntok < w ? ntok : w;
        int64_t span = k < wlen ? k : wlen;
        int nwin = ntok > w ? 2 : 1;
        for (int win = 0; win < nwin; win++) {
            int64_t ws = win == 0 ? 0 : tail_start;
            for (int64_t j = 0; j < np_; j++) mins[j] = UINT64_MAX;
            for (int64_t rel = 0; rel + span <= wlen; rel++) {
                uint64_t sh = 0;
                for (int64_t i = 0; i < span; i++)
                    sh = splitmix64(sh ^ t[ws + rel + i] ^ (uint64_t)(i + 1));
                for (int64_t j = 0; j < np_; j++) {
                    uint64_t h = sh * a[j] + b[j];
                    h ^= h >> 32;
                    if (h < mins[j]) mins[j] = h;
                }
            }
            for (int64_t bd = 0; bd < bands; bd++) {
                uint64_t kv = 0;
                for (int64_t q = 0; q < rows; q++) kv = splitmix64(kv ^ mins[bd * rows + q]);
                uint64_t idx = (uint64_t)(bd + win * bands + 1);
                key[win * bands + bd] = splitmix64(kv ^ (idx * MIX2));
                if (win == 0) head_raw[bd] = kv;
            }
        }
        if (nwin == 1) {
            for (int64_t bd = 0; bd < bands; bd++) {
                uint64_t idx = (uint64_t)(bd + bands + 1);
                key[bands + bd] = splitmix64(head_raw[bd] ^ (idx * MIX2));
            }
        }
        /* edge keys: exact hashes of the first and last e tokens of longer rows */
        if (e > 0 && ntok > 2 * e) {
            uint64_t s0 = 0, s1 = 0;
            for (int64_t p = 0; p < e; p++) {
                s0 += splitmix64(t[p] ^ ((uint64_t)p * GOLD));
                s1 += splitmix64(t[ntok - e + p] ^ ((uint64_t)p * GOLD));
            }
            key[2 * bands] = splitmix64(splitmix64(s0) ^ ((uint64_t)(2 * bands + 1) * MIX2));
            key[2 * bands + 1] = splitmix64(splitmix64(s1) ^ ((uint64_t)(2 * bands + 2) * MIX2));
            has_edge[r] = 1;
        }
    }
}

/* script.detect_script after clipping: per row the script class (0..5) with most letters,
 * ties to the lower class, 6 (other) without any (script.byte_classes per lead byte). */
void dg_script(const uint8_t *data, int64_t len, const int64_t *off, int64_t n,
               const int8_t *lead, int32_t *best) {
    for (int64_t r = 0; r < n; r++) {
        int64_t cnt[6] = {0, 0, 0, 0, 0, 0};
        for (int64_t i = off[r]; i < off[r + 1]; i++) {
            uint8_t b = data[i];
            if ((b & 0xC0) == 0x80) continue;
            int8_t c = lead[b];
            uint8_t nx = i + 1 < len ? data[i + 1] : 0;
            if (b == 0xE0 && (nx == 0xA4 || nx == 0xA5)) c = 4;
            else if (b == 0xE3 && nx >= 0x81) c = 1;
            else if (b == 0xEA && nx >= 0xB0) c = 5;
            else if (b == 0xED && nx <= 0x9E) c = 5;
            if (c >= 0 && c < 6) cnt[c]++;
        }
        int bc = 0;
        for (int c = 1; c < 6; c++)
            if (cnt[c] > cnt[bc]) bc = c;
        best[r] = cnt[bc] ? bc : 6;
    }
}

/* base.clip: rows longer than head + tail code points become their first ``head`` and last
 * ``tail`` code points joined by ``sep``; others are copied. ``out`` holds at least
 * data_len + n * sep_len bytes; returns the number of rows clipped. */
int64_t dg_clip(const uint8_t *data, const int64_t *off, int64_t n, int64_t head, int64_t tail,
                const uint8_t *sep, int64_t sep_len, uint8_t *out, int64_t *new_off) {
    int64_t o = 0, clipped = 0;
    new_off[0] = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t lo = off[r], hi = off[r + 1], nchar = 0;
        for (int64_t i = lo; i < hi; i++) nchar += (data[i] & 0xC0) != 0x80;
        if (nchar <= head + tail) {
            for (int64_t i = lo; i < hi; i++) out[o++] = data[i];
        } else {
            int64_t i = lo, seen = 0; /* the byte where code point number ``head`` starts */
            for (; i < hi; i++) {
                if ((data[i] & 0xC0) != 0x80) {
                    if (seen == head) break;
                    seen++;
                }
            }
            for (int64_t j = lo; j < i; j++) out[o++] = data[j];
            for (int64_t j = 0; j < sep_len; j++) out[o++] = sep[j];
            int64_t t = hi; /* the byte where the last ``tail`` code points start */
            seen = 0;
            while (t > lo && seen < tail) {
                t--;
                if ((data[t] & 0xC0) != 0x80) seen++;
            }
            if (tail == 0) t = hi;
            for (int64_t j = t; j < hi; j++) out[o++] = data[j];
            clipped++;
        }
        new_off[r + 1] = o;
    }
    return clipped;
}
