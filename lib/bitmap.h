/* Page bitmaps: one bit per page of a mapping. */
#ifndef GROWMAP_BITMAP_H
#define GROWMAP_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define BITMAP_WORD_BITS 64

static inline size_t bitmap_words(size_t nbits)
{
	return (nbits + BITMAP_WORD_BITS - 1) / BITMAP_WORD_BITS;
}

static inline uint64_t *bitmap_alloc(size_t nbits)
{
	return calloc(bitmap_words(nbits), sizeof(uint64_t));
}

static inline bool bitmap_test(const uint64_t *map, size_t bit)
{
	return (map[bit / BITMAP_WORD_BITS] >> (bit % BITMAP_WORD_BITS)) & 1;
}

/* Atomic variants, for bitmaps one thread sets while another reads. */
static inline bool bitmap_test_atomic(const uint64_t *map, size_t bit)
{
	uint64_t w = __atomic_load_n(&map[bit / BITMAP_WORD_BITS], __ATOMIC_ACQUIRE);
	return (w >> (bit % BITMAP_WORD_BITS)) & 1;
}

static inline void bitmap_set_atomic(uint64_t *map, size_t bit)
{
	__atomic_fetch_or(&map[bit / BITMAP_WORD_BITS],
			  (uint64_t)1 << (bit % BITMAP_WORD_BITS), __ATOMIC_RELEASE);
}

static inline void bitmap_clear_atomic(uint64_t *map, size_t bit)
{
	__atomic_fetch_and(&map[bit / BITMAP_WORD_BITS],
			   ~((uint64_t)1 << (bit % BITMAP_WORD_BITS)), __ATOMIC_ACQ_REL);
}

/* First set bit at or after 'from' (before 'end'), 'end' if none, in a
 * bitmap other threads set bits in; words are loaded atomically. */
static inline size_t bitmap_next_set_atomic(const uint64_t *map, size_t from, size_t end)
{
	for (size_t bit = from; bit < end;) {
		size_t shift = bit % BITMAP_WORD_BITS;
		uint64_t w = __atomic_load_n(&map[bit / BITMAP_WORD_BITS], __ATOMIC_ACQUIRE) >> shift;
		if (w) {
			bit += (size_t)__builtin_ctzll(w);
			return bit < end ? bit : end;
		}
		bit += BITMAP_WORD_BITS - shift;
	}
	return end;
}

/* Set or clear bits [from, to). */
static inline void bitmap_assign_range(uint64_t *map, size_t from, size_t to,
				       bool value)
{
	for (size_t bit = from; bit < to;) {
		size_t word = bit / BITMAP_WORD_BITS, shift = bit % BITMAP_WORD_BITS;
		size_t n = BITMAP_WORD_BITS - shift;
		if (n > to - bit)
			n = to - bit;
		uint64_t mask = (n == BITMAP_WORD_BITS ? ~(uint64_t)0
				 : (((uint64_t)1 << n) - 1)) << shift;
		if (value)
			map[word] |= mask;
		else
			map[word] &= ~mask;
		bit += n;
	}
}

/* First bit at or after 'from' (and before 'end') whose value is 'value';
 * 'end' when there is none. */
static inline size_t bitmap_find(const uint64_t *map, size_t from, size_t end,
				 bool value)
{
	size_t bit = from;
	while (bit < end) {
		size_t word = bit / BITMAP_WORD_BITS, shift = bit % BITMAP_WORD_BITS;
		uint64_t w = value ? map[word] : ~map[word];
		w >>= shift;
		if (w) {
			bit += (size_t)__builtin_ctzll(w);
			return bit < end ? bit : end;
		}
		bit += BITMAP_WORD_BITS - shift;
	}
	return end;
}

/* Next run of set bits at or after *from: returns false when none is left,
 * otherwise stores the run as [*from, *to). */
static inline bool bitmap_next_run(const uint64_t *map, size_t end,
				   size_t *from, size_t *to)
{
	size_t start = bitmap_find(map, *from, end, true);
	if (start >= end)
		return false;
	*from = start;
	*to = bitmap_find(map, start, end, false);
	return true;
}

#endif
