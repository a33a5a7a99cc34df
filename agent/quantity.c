/* SPDX-License-Identifier: Apache-2.0 */
/* resource.Quantity parsing (k8s.io/apimachinery/pkg/api/resource): the grammar of parseQuantityString and the
 * suffixes of quantitySuffixer, with Value()/MilliValue() rounding (up, towards +inf). The arithmetic is exact:
 * the integer part has at most 19 digits (anything longer overflows int64), and the fraction is cut after 64
 * digits with a sticky bit, which cannot change the rounded result: a binary suffix multiplies by at most 2^60,
 * and the error of cutting after m >= 60 digits stays below the smallest step the kept digits can produce. */

#include <inttypes.h>
#include <stdio.h>

#include "agent/quantity.h"

#include "common/macro.h"

#define FRACTION_DIGITS 64

typedef struct Parsed {
        bool negative;
        const char *int_digits, *frac_digits; /* into the input */
        size_t n_int, n_frac;
        int64_t exp10; /* decimal exponent from the suffix */
        unsigned exp2; /* binary suffix: 10 (Ki) .. 60 (Ei) */
} Parsed;

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static int parse_suffix(const char *s, Parsed *q) {
        static const struct {
                const char *suffix;
                int exp10;
                unsigned exp2;
        } table[] = {
                {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
                {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
                {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(s, table[i].suffix)) {
                        q->exp10 = table[i].exp10;
                        q->exp2 = table[i].exp2;
                        return 0;
                }
        /* A decimal exponent: [eE][+-]?digits, an int64 in Go; anything beyond ±10^6 is out of range for us anyway
         * (overflow, or a fraction that only rounds to 0 or 1), so clamp while reading instead of overflowing. */
        if (s[0] != 'e' && s[0] != 'E')
                return -EINVAL;
        const char *p = s + 1;
        bool neg = false;
        if (*p == '+' || *p == '-')
                neg = *p++ == '-';
        if (!is_digit(*p))
                return -EINVAL;
        int64_t x = 0;
        for (; is_digit(*p); p++)
                x = MIN(x * 10 + (*p - '0'), (int64_t) 1000000);
        if (*p)
                return -EINVAL;
        q->exp10 = neg ? -x : x;
        q->exp2 = 0;
        return 0;
}

static int parse_syntax(const char *s, Parsed *q) {
        const char *p = s;

        *q = (Parsed){};
        if (*p == '+' || *p == '-')
                q->negative = *p++ == '-';
        q->int_digits = p;
        while (is_digit(*p))
                p++;
        q->n_int = (size_t) (p - q->int_digits);
        q->frac_digits = p;
        if (*p == '.') {
                q->frac_digits = ++p;
                while (is_digit(*p))
                        p++;
                q->n_frac = (size_t) (p - q->frac_digits);
        }
        /* Go accepts a lone sign as 0; a quantity without any digit is a typo, so we do not. */
        if (q->n_int + q->n_frac == 0)
                return -EINVAL;
        return parse_suffix(p, q);
}

/* The i-th digit of the mantissa (integer digits then fraction digits). */
static int digit_at(const Parsed *q, size_t i) {
        return i < q->n_int ? q->int_digits[i] - '0' : q->frac_digits[i - q->n_int] - '0';
}

static int quantity_scaled(const char *s, int scale10, int64_t *ret) {
        Parsed q;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_syntax(s, &q);
        if (r < 0)
                return r;

        /* Mantissa digits without leading zeros; the decimal point sits `point` digits after the first one. */
        size_t n = q.n_int + q.n_frac, first = 0;
        while (first < n && digit_at(&q, first) == 0)
                first++;
        if (first == n) {
                *ret = 0;
                return 0;
        }
        int64_t point = (int64_t) q.n_int - (int64_t) first + q.exp10 + scale10;
        if (point > 19)
                return -ERANGE; /* >= 10^19 */

        /* Integer part: digits [first, first+point), zero-padded when the point lies beyond the mantissa. */
        uint64_t ip = 0;
        for (int64_t i = 0; i < point; i++) {
                size_t k = first + (size_t) i;
                ip = ip * 10 + (uint64_t) (k < n ? digit_at(&q, k) : 0);
        }

        /* Fraction: FRACTION_DIGITS digits after the point (leading zeros when the point lies before the mantissa),
         * and whether anything non-zero follows. */
        uint8_t frac[FRACTION_DIGITS];
        bool sticky = false;
        for (int64_t i = 0; i < FRACTION_DIGITS; i++) {
                int64_t k = (int64_t) first + point + i; /* mantissa index of this fraction digit */
                frac[i] = k >= (int64_t) first && k < (int64_t) n ? (uint8_t) digit_at(&q, (size_t) k) : 0;
        }
        for (int64_t k = MAX((int64_t) first + point + FRACTION_DIGITS, (int64_t) first); k < (int64_t) n && !sticky;
             k++)
                sticky = digit_at(&q, (size_t) k) != 0;

        /* Binary suffix: shift the integer part, and double the fraction exp2 times, collecting what carries over. */
        unsigned __int128 whole = (unsigned __int128) ip << q.exp2;
        uint64_t carried = 0;
        for (unsigned b = 0; b < q.exp2; b++) {
                int carry = 0;
                for (int i = FRACTION_DIGITS - 1; i >= 0; i--) {
                        int d = frac[i] * 2 + carry;
                        frac[i] = (uint8_t) (d % 10);
                        carry = d / 10;
                }
                carried = carried * 2 + (uint64_t) carry;
        }
        bool rest = sticky;
        for (size_t i = 0; i < FRACTION_DIGITS && !rest; i++)
                rest = frac[i] != 0;

        unsigned __int128 floor_value = whole + carried;
        unsigned __int128 value = q.negative ? floor_value : floor_value + rest; /* ceil(-x) = -floor(x) */
        if (value > INT64_MAX)
                return -ERANGE;
        *ret = q.negative ? -(int64_t) value : (int64_t) value;
        return 0;
}

int quantity_parse(const char *s, bool milli, int64_t *ret) {
        int64_t v;
        int r = quantity_scaled(s, milli ? 3 : 0, &v);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int quantity_parse_milli(const char *s, int64_t *ret) {
        int64_t v;
        int r = quantity_scaled(s, 3, &v);
        if (r < 0)
                return r == -ERANGE ? -EINVAL : r;
        *ret = v;
        return 0;
}

int quantity_parse_bytes(const char *s, int64_t *ret) {
        int64_t v;
        int r = quantity_scaled(s, 0, &v);
        if (r < 0)
                return r == -ERANGE ? -EINVAL : r;
        *ret = v;
        return 0;
}

int quantity_from_json(const json_t *v, bool milli, int64_t *ret) {
        char buf[64];

        if (json_is_string(v))
                return milli ? quantity_parse_milli(json_string_value(v), ret)
                             : quantity_parse_bytes(json_string_value(v), ret);
        if (json_is_integer(v))
                snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                /* 15 significant digits: what a YAML/JSON decimal like 0.1 meant, not its binary approximation. */
                snprintf(buf, sizeof buf, "%.15g", json_real_value(v));
        else
                return -EINVAL;
        return milli ? quantity_parse_milli(buf, ret) : quantity_parse_bytes(buf, ret);
}
