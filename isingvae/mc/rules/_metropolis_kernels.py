"""Numba kernels of the multi-spin-coded checkerboard Metropolis sampler.

Layout: ``words[t, b, i, j]`` is a ``uint64`` whose bit ``c`` is the spin at
site ``(i, j)`` of chain ``64 b + c`` at temperature index ``t`` (bit 1 = spin
up).  One site update treats 64 chains at once:

1. agreement with each neighbour, ``x_k = ~(s ^ n_k)``, is summed by bitwise
   half adders into class masks (``a`` = number of agreeing neighbours, and the
   spin itself when ``h != 0``);
2. chains whose class has :math:`\\Delta E < 0` flip; those with :math:`\\Delta E = 0`
   flip with probability 1/2 (see :mod:`isingvae.mc.rules.metropolis` for why);
3. chains whose class needs a Bernoulli(:math:`p`) bit compare a private
   uniform 64-bit integer :math:`u` with the fixed-point threshold
   :math:`P = \\lfloor p\\, 2^{64} \\rfloor`, most significant digit first: the
   ``k``-th digit of every chain's :math:`u` is bit ``c`` of the ``k``-th fresh
   random word drawn for its site, so no random number is shared between
   chains.  A chain is decided at the first digit where :math:`u` and :math:`P`
   differ (accept when :math:`u < P`); one still undecided after 64 digits has
   :math:`u = P` and is rejected, so the acceptance probability is exactly
   :math:`P / 2^{64}`, less than :math:`2^{-64}` below :math:`p`.

Fast path (``J > 0``, ``h = 0``): vectors of sites.  The sites of one colour in
a row do not interact, so they are updated :data:`LANES` (= 8) at a time, site
``v`` of a *chunk* in lane ``v`` of a ``<8 x i64>`` vector.  That code is LLVM
IR written here with llvmlite (:func:`_make_row_update`), because numba's own
loops would not vectorise the data-dependent digit loop; LLVM turns it into
AVX-512, AVX2 or SSE2 instructions as the CPU allows, with identical results
since only exact integer operations are involved.  For one chunk:

- the row and its two neighbour rows are read with masked vector loads (two
  vectors of 8 words each), split into this colour's words and the other
  colour's by shuffles; the left or right neighbour of the first or last site
  comes from the word beyond the chunk (or across the periodic edge);
- the class masks are computed lane by lane as in step 1 (lanes past the end of
  the row are masked off);
- *rounds*: each row owns :data:`LANES` xoshiro256++ streams, one per lane,
  stepped together, so a round draws one fresh word per site and gives the
  next digit to every still-undecided chain of that site.  Rounds continue until
  no chain of the chunk is undecided, about 11 rounds at :math:`T_c` (the
  slowest of some 430 chains, each needing 2 digits on average).  The first
  :data:`EAGER_ROUNDS` are drawn without testing, which avoids most of the
  mispredicted loop exits that dominated the former one-site-at-a-time loop.
  The first round's word also gives the :math:`\\Delta E = 0` chains their fair
  coin (they use no other digit); a chunk where no chain needs a random bit
  draws nothing;
- the new words go back with masked stores that touch only this colour.

Drawing a whole word per site per round wastes the bits of decided chains, but
a vector xoshiro step costs about one instruction per word, far less than
packing the undecided chains' digits together would; the cost is the number
of rounds.

General path (any ``J`` and ``h``): one site at a time in scalar code, ten
classes, the digit loop per site, drawing from the first stream of the row.

Randomness comes from streams tied to ``(t, b, row, lane)`` (see
:class:`isingvae.mc.Metropolis`), so the two parallel strategies below, and any
number of threads, give the same bits.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from isingvae.mc.rules._rng import next_u64_pp

_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)

#: sites per vector, and xoshiro256++ streams per row
LANES = 8
#: rounds drawn before the first test for undecided chains (tuned at T_c, L = 64)
EAGER_ROUNDS = 12

# ---------------------------------------------------------------------- LLVM vector code
#
# The fast row update is written as LLVM IR on <LANES x i64> vectors (exact integer
# operations only), so that the same bits come out whatever vector width the CPU has.

_I1 = ir.IntType(1)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VEC = ir.VectorType(_I64, LANES)
_MASK = ir.VectorType(_I1, LANES)
_VEC_PTR = _VEC.as_pointer()
_ALIGN = ir.Constant(_I32, 8)


def _i64(x):
    return ir.Constant(_I64, x)


def _const(x):
    return ir.Constant(_VEC, [x] * LANES)


def _lane_index(first=0):
    return ir.Constant(_VEC, list(range(first, first + LANES)))


def _splat(b, x):
    v = b.insert_element(ir.Constant(_VEC, None), x, ir.Constant(_I32, 0))
    return _shuffle(b, v, ir.Constant(_VEC, None), [0] * LANES)


def _shuffle(b, x, y, lanes):
    return b.shuffle_vector(x, y, ir.Constant(ir.VectorType(_I32, LANES), list(lanes)))


def _rotl(b, x, r):
    return b.or_(b.shl(x, _const(r)), b.lshr(x, _const(64 - r)))


def _vec_ptr(b, base, offset):
    """``<LANES x i64>*`` at element ``offset`` (an ``i64`` value) of ``base``."""
    return b.bitcast(b.gep(base, [offset]), _VEC_PTR)


def _masked_load(b, base, offset, mask):
    fn = cgutils.get_or_insert_function(
        b.module,
        ir.FunctionType(_VEC, [_VEC_PTR, _I32, _MASK, _VEC]),
        f"llvm.masked.load.v{LANES}i64.p0",
    )
    return b.call(fn, [_vec_ptr(b, base, offset), _ALIGN, mask, _const(0)])


def _masked_store(b, value, base, offset, mask):
    fn = cgutils.get_or_insert_function(
        b.module,
        ir.FunctionType(ir.VoidType(), [_VEC, _VEC_PTR, _I32, _MASK]),
        f"llvm.masked.store.v{LANES}i64.p0",
    )
    b.call(fn, [value, _vec_ptr(b, base, offset), _ALIGN, mask])


def _any(b, x):
    """``i1``: whether any bit of any lane of ``x`` is set."""
    bits = b.bitcast(b.icmp_unsigned("!=", x, _const(0)), ir.IntType(LANES))
    return b.icmp_unsigned("!=", bits, ir.Constant(ir.IntType(LANES), 0))


def _xoshiro(b, state):
    """One xoshiro256++ step of every lane: ``(output, new state)``."""
    s0, s1, s2, s3 = state
    out = b.add(_rotl(b, b.add(s0, s3), 23), s0)
    t = b.shl(s1, _const(17))
    s2 = b.xor(s2, s0)
    s3 = b.xor(s3, s1)
    s1 = b.xor(s1, s2)
    s0 = b.xor(s0, s3)
    s2 = b.xor(s2, t)
    s3 = _rotl(b, s3, 45)
    return out, (s0, s1, s2, s3)


def _round(b, state, und, flip, m3, m4, d3, d4, k):
    """Digit ``k`` of every undecided chain: returns ``(words, state, undecided, flip)``."""
    w, state = _xoshiro(b, state)
    d = b.or_(
        b.and_(m3, _splat(b, b.load(b.gep(d3, [k])))),
        b.and_(m4, _splat(b, b.load(b.gep(d4, [k])))),
    )
    flip = b.or_(flip, b.and_(b.and_(und, d), b.not_(w)))
    und = b.and_(und, b.not_(b.xor(d, w)))
    return w, state, und, flip


def _phis(b, values, block):
    out = []
    for v in values:
        p = b.phi(v.type)
        p.add_incoming(v, block)
        out.append(p)
    return out


def _emit_rounds(b, state, m3, m4, und, half, flip, d3, d4):
    """Rounds until no chain of the chunk is undecided: returns ``(state, flip)``.

    The first :data:`EAGER_ROUNDS` are unconditional; none is drawn when no chain
    needs a random bit.
    """
    entry = b.block
    eager = b.append_basic_block("eager_rounds")
    loop = b.append_basic_block("more_rounds")
    body = b.append_basic_block("round")
    done = b.append_basic_block("decided")
    b.cbranch(_any(b, b.or_(und, half)), eager, done)

    b.position_at_end(eager)
    w, st1, und1, flip1 = _round(b, state, und, flip, m3, m4, d3, d4, _i64(0))
    flip1 = b.or_(flip1, b.and_(half, b.not_(w)))  # the Delta E = 0 chains' coin
    for k in range(1, EAGER_ROUNDS):
        _, st1, und1, flip1 = _round(b, st1, und1, flip1, m3, m4, d3, d4, _i64(k))
    eager_end = b.block
    b.branch(loop)

    b.position_at_end(loop)
    *ph_state, ph_und, ph_flip, ph_k = _phis(b, [*st1, und1, flip1, _i64(EAGER_ROUNDS)], eager_end)
    more = b.and_(_any(b, ph_und), b.icmp_unsigned("<", ph_k, _i64(64)))
    b.cbranch(more, body, done)

    b.position_at_end(body)
    _, st2, und2, flip2 = _round(b, tuple(ph_state), ph_und, ph_flip, m3, m4, d3, d4, ph_k)
    for p, v in zip([*ph_state, ph_und, ph_flip], [*st2, und2, flip2], strict=True):
        p.add_incoming(v, b.block)
    ph_k.add_incoming(b.add(ph_k, _i64(1)), b.block)
    b.branch(loop)

    b.position_at_end(done)
    out = _phis(b, [*state, flip], entry)
    for p, v in zip(out, [*ph_state, ph_flip], strict=True):
        p.add_incoming(v, loop)
    return tuple(out[:4]), out[4]


def _class_masks(b, s, up, down, left, right, valid, r3, r4):
    """``(m3, m4, undecided, half, flip)`` of the fast kernel, lane by lane."""
    x1 = b.not_(b.xor(s, up))
    x2 = b.not_(b.xor(s, down))
    x3 = b.not_(b.xor(s, left))
    x4 = b.not_(b.xor(s, right))
    p, q = b.xor(x1, x2), b.and_(x1, x2)
    r, t = b.xor(x3, x4), b.and_(x3, x4)
    m4 = b.and_(q, t)
    m3 = b.or_(b.and_(q, r), b.and_(t, p))
    at_least_2 = b.or_(b.or_(q, t), b.and_(p, r))
    flip = b.and_(b.not_(at_least_2), valid)
    half = b.and_(b.and_(at_least_2, b.not_(b.or_(m3, m4))), valid)
    und = b.and_(b.or_(b.and_(m3, r3), b.and_(m4, r4)), valid)
    return m3, m4, und, half, flip


def _emit_chunk(b, odd, wp, L, rows, c, state, d3, d4, r3, r4, valid):
    """Update sites ``j = 16 c + 2 v + odd`` (``v < LANES``, ``j < L``) of one row.

    ``rows``: element offsets of the row and of its upper and lower neighbours.
    Returns the advanced stream state.
    """
    row, up, down = rows
    base = b.mul(c, _i64(2 * LANES))
    room = _splat(b, b.sub(L, base))  # words of the row from ``base`` on
    in_lo = b.icmp_unsigned("<", _lane_index(0), room)
    in_hi = b.icmp_unsigned("<", _lane_index(LANES), room)
    half_lanes = b.lshr(b.sub(L, base), _i64(1))
    n = b.select(b.icmp_unsigned("<", half_lanes, _i64(LANES)), half_lanes, _i64(LANES))
    used = b.icmp_unsigned("<", _lane_index(0), _splat(b, n))
    mine = list(range(odd, 2 * LANES, 2))
    theirs = list(range(1 - odd, 2 * LANES, 2))

    def pair(start):
        lo = _masked_load(b, wp, b.add(start, base), in_lo)
        hi = _masked_load(b, wp, b.add(start, b.add(base, _i64(LANES))), in_hi)
        return lo, hi

    lo, hi = pair(row)
    s = _shuffle(b, lo, hi, mine)
    nb = _shuffle(b, lo, hi, theirs)
    if odd:
        # left: the even words of the chunk; right: the next even word, for the
        # last site in use the first word after the chunk (column 0 at the edge)
        after = b.add(base, b.mul(n, _i64(2)))
        jr = b.select(b.icmp_unsigned("<", after, L), after, _i64(0))
        xr = _splat(b, b.load(b.gep(wp, [b.add(row, jr)])))
        left = nb
        right = _shuffle(b, nb, xr, range(1, LANES + 1))
        last = b.icmp_unsigned("==", _lane_index(0), _splat(b, b.sub(n, _i64(1))))
        right = b.select(last, xr, right)
    else:
        # right: the odd words of the chunk; left: the previous odd word, for the
        # first site the word before the chunk (column L - 1 at the edge)
        jl = b.select(b.icmp_unsigned(">", base, _i64(0)), b.sub(base, _i64(1)), b.sub(L, _i64(1)))
        xl = _splat(b, b.load(b.gep(wp, [b.add(row, jl)])))
        right = nb
        left = _shuffle(b, nb, xl, [LANES, *range(LANES - 1)])
    u = _shuffle(b, *pair(up), mine)
    d = _shuffle(b, *pair(down), mine)
    valid = b.select(used, _splat(b, valid), _const(0))
    m3, m4, und, half, flip = _class_masks(b, s, u, d, left, right, valid, r3, r4)
    state, flip = _emit_rounds(b, state, m3, m4, und, half, flip, d3, d4)
    new = b.xor(s, flip)
    # back to the interleaved layout; the masked stores leave the other colour alone
    spread_lo = [k // 2 if k % 2 == odd else LANES + k for k in range(LANES)]
    spread_hi = [LANES // 2 + k // 2 if k % 2 == odd else LANES + k for k in range(LANES)]
    parity = ir.Constant(_MASK, [k % 2 == odd for k in range(LANES)])
    _masked_store(b, _shuffle(b, new, lo, spread_lo), wp, b.add(row, base), b.and_(in_lo, parity))
    _masked_store(
        b,
        _shuffle(b, new, hi, spread_hi),
        wp,
        b.add(row, b.add(base, _i64(LANES))),
        b.and_(in_hi, parity),
    )
    return state


def _data(context, b, ty, value):
    return context.make_array(ty)(context, b, value).data


def _make_row_update(odd):
    """Intrinsic updating the sites ``j = odd (mod 2)`` of row ``i``, chunk after chunk."""

    @intrinsic
    def row_update(typingctx, W, i, up, down, st, d3, d4, r3, r4, valid):
        # the code addresses the arrays' data directly: C-contiguous uint64 only
        for a in (W, st, d3, d4):
            if not (isinstance(a, types.Array) and a.layout == "C" and a.dtype == types.uint64):
                return None
        sig = types.void(W, i, up, down, st, d3, d4, r3, r4, valid)

        def codegen(context, b, signature, args):
            W_, i_, up_, down_, st_, d3_, d4_, r3_, r4_, valid_ = args
            ty = signature.args
            wp = _data(context, b, ty[0], W_)
            L = b.extract_value(context.make_array(ty[0])(context, b, W_).shape, 0)
            sp = _data(context, b, ty[4], st_)
            d3p = _data(context, b, ty[5], d3_)
            d4p = _data(context, b, ty[6], d4_)
            rows = (b.mul(i_, L), b.mul(up_, L), b.mul(down_, L))
            r3v, r4v = _splat(b, r3_), _splat(b, r4_)
            state = [b.load(_vec_ptr(b, sp, _i64(LANES * k)), align=8) for k in range(4)]
            chunks = b.udiv(b.add(L, _i64(2 * LANES - 1)), _i64(2 * LANES))
            entry = b.block
            loop = b.append_basic_block("chunks")
            body = b.append_basic_block("chunk")
            done = b.append_basic_block("row_done")
            b.branch(loop)
            b.position_at_end(loop)
            *ph_state, ph_c = _phis(b, [*state, _i64(0)], entry)
            b.cbranch(b.icmp_unsigned("<", ph_c, chunks), body, done)
            b.position_at_end(body)
            new_state = _emit_chunk(
                b, odd, wp, L, rows, ph_c, tuple(ph_state), d3p, d4p, r3v, r4v, valid_
            )
            for p, v in zip(ph_state, new_state, strict=True):
                p.add_incoming(v, b.block)
            ph_c.add_incoming(b.add(ph_c, _i64(1)), b.block)
            b.branch(loop)
            b.position_at_end(done)
            for k in range(4):
                b.store(ph_state[k], _vec_ptr(b, sp, _i64(LANES * k)), align=8)
            return context.get_dummy_value()

        return sig, codegen

    return row_update


_row_even = _make_row_update(0)
_row_odd = _make_row_update(1)


@numba.njit(inline="always")
def _agreement(row, up, down, j, jl, jr):
    """Spin word at ``(i, j)`` and its pair sums ``(p, q, r, t)``.

    ``p = x1 ^ x2`` and ``q = x1 & x2`` encode the count of agreeing vertical
    neighbours as ``p + 2 q``; ``r``, ``t`` the same for the horizontal pair.
    """
    s = row[j]
    x1 = ~(s ^ up[j])
    x2 = ~(s ^ down[j])
    x3 = ~(s ^ row[jl])
    x4 = ~(s ^ row[jr])
    return s, x1 ^ x2, x1 & x2, x3 ^ x4, x3 & x4


@numba.njit(inline="always")
def _row_fast(W, i, colour, valid, d3, d4, r3, r4, st):
    """Update the sites of one colour in row ``i``: ``h = 0`` and ``J > 0``.

    ``a <= 1`` flips, ``a = 2`` (:math:`\\Delta E = 0`) flips with probability 1/2,
    ``a = 3`` (:math:`\\Delta E = 4J`) and ``a = 4`` (:math:`8J`) need Bernoulli bits;
    ``d3``/``d4`` are the threshold digits as all-ones or zero words, ``r3``/``r4``
    all-ones when that class can be accepted at all.  ``st`` holds the row's
    ``(4, LANES)`` stream states.
    """
    L = W.shape[0]
    up = i - 1 if i > 0 else L - 1
    down = i + 1 if i < L - 1 else 0
    if (i + colour) & 1:
        _row_odd(W, i, up, down, st, d3, d4, r3, r4, valid)
    else:
        _row_even(W, i, up, down, st, d3, d4, r3, r4, valid)


@numba.njit(inline="always")
def _row_generic(W, i, colour, valid, always, nrand, rcls, rdig, masks, s0, s1, s2, s3):
    """Update the sites of one colour in row ``i``: any ``J`` and ``h``.

    Ten classes ``2 a + (spin up)``; ``always[c]`` is all-ones for classes with
    :math:`\\Delta E \\le 0`; the ``nrand`` classes ``rcls[:nrand]`` draw
    Bernoulli bits against the digits ``rdig[slot, k]``.  ``masks`` is scratch.
    """
    L = W.shape[0]
    row = W[i]
    up = W[i - 1] if i > 0 else W[L - 1]
    down = W[i + 1] if i < L - 1 else W[0]
    for j in range((i + colour) & 1, L, 2):
        jl = j - 1 if j > 0 else L - 1
        jr = j + 1 if j < L - 1 else 0
        s, p, q, r, t = _agreement(row, up, down, j, jl, jr)
        z1 = ~(p | q)
        z2 = ~(r | t)
        a0 = z1 & z2
        a1 = (p & z2) | (r & z1)
        a2 = (q & z2) | (t & z1) | (p & r)
        a3 = (q & r) | (t & p)
        a4 = q & t
        masks[0] = a0 & ~s
        masks[1] = a0 & s
        masks[2] = a1 & ~s
        masks[3] = a1 & s
        masks[4] = a2 & ~s
        masks[5] = a2 & s
        masks[6] = a3 & ~s
        masks[7] = a3 & s
        masks[8] = a4 & ~s
        masks[9] = a4 & s
        flip = _ZERO
        for c in range(10):
            flip |= masks[c] & always[c]
        flip &= valid
        undecided = _ZERO
        for slot in range(nrand):
            undecided |= masks[rcls[slot]]
        undecided &= valid
        k = 0
        while undecided != _ZERO and k < 64:
            w, s0, s1, s2, s3 = next_u64_pp(s0, s1, s2, s3)
            d = _ZERO
            for slot in range(nrand):
                d |= masks[rcls[slot]] & rdig[slot, k]
            flip |= undecided & d & ~w
            undecided &= ~(d ^ w)
            k += 1
        row[j] = s ^ flip
    return s0, s1, s2, s3


@numba.njit(inline="always")
def _update_row(words, rng, t, b, i, colour, valid, fast, tab, m):
    """Update the sites of one colour in row ``(t, b, i)``, advancing that row's streams.

    ``m``: ten words of scratch for the general kernel.
    """
    d3, d4, r3, r4, always, nrand, rcls, rdig = tab
    st = rng[t, b, i]
    W = words[t, b]
    if fast:
        _row_fast(W, i, colour, valid, d3[t], d4[t], r3[t], r4[t], st)
    else:
        s0, s1, s2, s3 = _row_generic(
            W,
            i,
            colour,
            valid,
            always[t],
            nrand[t],
            rcls[t],
            rdig[t],
            m,
            st[0, 0],
            st[1, 0],
            st[2, 0],
            st[3, 0],
        )
        st[0, 0] = s0
        st[1, 0] = s1
        st[2, 0] = s2
        st[3, 0] = s3


@numba.njit(inline="always")
def _scratch():
    return np.zeros(10, np.uint64)


@numba.njit(inline="always")
def _pair_sweeps(words, rng, valid, n, fast, tab, pair):
    nB, L = words.shape[1], words.shape[2]
    t = pair // nB
    b = pair - t * nB
    m = _scratch()
    for _ in range(n):
        for colour in range(2):
            for i in range(L):
                _update_row(words, rng, t, b, i, colour, valid[b], fast, tab, m)


@numba.njit(parallel=True, cache=True, nogil=True)
def sweeps_by_pair(words, rng, valid, n, fast, tab):
    """``n`` sweeps; threads share out the ``(t, b)`` pairs, each doing all ``n`` sweeps."""
    for pair in prange(words.shape[0] * words.shape[1]):
        _pair_sweeps(words, rng, valid, n, fast, tab, pair)


@numba.njit(cache=True, nogil=True)
def sweeps_serial(words, rng, valid, n, fast, tab):
    """``n`` sweeps in the calling thread (small jobs: no thread start-up to pay)."""
    for pair in range(words.shape[0] * words.shape[1]):
        _pair_sweeps(words, rng, valid, n, fast, tab, pair)


@numba.njit(parallel=True, cache=True, nogil=True)
def sweeps_by_row(words, rng, valid, n, fast, tab, groups):
    """``n`` sweeps; each half-sweep shares out the rows of every ``(t, b)`` between threads.

    The rows are cut into ``groups`` contiguous groups (one scratch array each);
    how they are grouped does not change any result.
    """
    nT, nB, L, _ = words.shape
    tasks = nT * nB * L
    groups = max(1, min(tasks, groups))
    for _ in range(n):
        for colour in range(2):
            for g in prange(groups):
                m = _scratch()
                for task in range(g * tasks // groups, (g + 1) * tasks // groups):
                    pair = task // L
                    i = task - pair * L
                    t = pair // nB
                    b = pair - t * nB
                    _update_row(words, rng, t, b, i, colour, valid[b], fast, tab, m)


@numba.njit(cache=True, nogil=True)
def series_serial(words, rng, valid, points, stride, fast, tab):
    """``points`` times: ``stride`` sweeps, then the counts of
    :func:`count_up_and_agree` (two ``int64`` arrays ``(points, nT, nB, 64)``), all in
    the calling thread without the GIL: a pilot's measurement in one call."""
    nT, nB = words.shape[0], words.shape[1]
    ups = np.zeros((points, nT, nB, 64), np.int64)
    agree = np.zeros((points, nT, nB, 64), np.int64)
    for k in range(points):
        sweeps_serial(words, rng, valid, stride, fast, tab)
        ups[k], agree[k] = count_up_and_agree_serial(words)
    return ups, agree


@numba.njit(parallel=True, cache=True, nogil=True)
def count_up_and_agree(words):
    """Per chain: number of up spins and of agreeing nearest-neighbour bonds.

    Returns two ``int64`` arrays of shape ``(nT, nB, 64)``.
    """
    nT, nB = words.shape[0], words.shape[1]
    ups = np.zeros((nT, nB, 64), np.int64)
    agree = np.zeros((nT, nB, 64), np.int64)
    for pair in prange(nT * nB):
        _count_pair(words, pair, ups, agree)
    return ups, agree


@numba.njit(cache=True, nogil=True)
def count_up_and_agree_serial(words):
    """:func:`count_up_and_agree` in the calling thread."""
    nT, nB = words.shape[0], words.shape[1]
    ups = np.zeros((nT, nB, 64), np.int64)
    agree = np.zeros((nT, nB, 64), np.int64)
    for pair in range(nT * nB):
        _count_pair(words, pair, ups, agree)
    return ups, agree


@numba.njit(inline="always")
def _count_add_at(planes, x, k):
    """Add the bits of ``x`` (one per chain), each worth ``2**k``, to a bit-sliced
    counter."""
    while x != _ZERO:
        carry = planes[k] & x
        planes[k] ^= x
        x = carry
        k += 1


@numba.njit(inline="always")
def _csa(a, b, c):
    """A full adder on 64 lanes: ``(carry, sum)`` of the bits ``a + b + c``."""
    u = a ^ b
    return (a & b) | (u & c), u ^ c


@numba.njit(inline="always")
def _csa8(w, k, ones, twos, fours):
    """Add the eight words ``w[k:k + 8]`` to the carry-save counter ``(ones, twos,
    fours)``; returns it and the carries worth 8 (Harley and Seal's adder tree)."""
    twos_a, ones = _csa(ones, w[k], w[k + 1])
    twos_b, ones = _csa(ones, w[k + 2], w[k + 3])
    fours_a, twos = _csa(twos, twos_a, twos_b)
    twos_a, ones = _csa(ones, w[k + 4], w[k + 5])
    twos_b, ones = _csa(ones, w[k + 6], w[k + 7])
    fours_b, twos = _csa(twos, twos_a, twos_b)
    eights, fours = _csa(fours, fours_a, fours_b)
    return ones, twos, fours, eights


@numba.njit(inline="always")
def _count_pair(words, pair, ups, agree):
    """Bit-sliced counts of up spins and agreeing bonds of the 64 chains of one pair.

    Eight sites at a time go through carry-save adders (their 8 up bits, their 16 bond
    bits), which hand only the carries worth 8 (ups) and 16 (bonds) to the 40-plane
    counters: two carry loops per eight sites instead of three per site, for the same
    counts.  Sites of a row beyond a multiple of 8 are added one by one.
    """
    nB, L = words.shape[1], words.shape[2]
    t = pair // nB
    b = pair - t * nB
    W = words[t, b]
    up_planes = np.zeros(40, np.uint64)
    ag_planes = np.zeros(40, np.uint64)
    up_in = np.empty(8, np.uint64)
    ag_in = np.empty(16, np.uint64)
    u1 = _ZERO  # carry-save counters of the ups: ones, twos, fours
    u2 = _ZERO
    u4 = _ZERO
    a1 = _ZERO  # and of the agreeing bonds: ones, twos, fours, eights
    a2 = _ZERO
    a4 = _ZERO
    a8 = _ZERO
    for i in range(L):
        row = W[i]
        down = W[i + 1] if i < L - 1 else W[0]
        whole = L - L % 8
        for j0 in range(0, whole, 8):
            for q in range(8):
                j = j0 + q
                s = row[j]
                right = row[j + 1] if j < L - 1 else row[0]
                up_in[q] = s
                ag_in[2 * q] = ~(s ^ right)
                ag_in[2 * q + 1] = ~(s ^ down[j])
            u1, u2, u4, eights = _csa8(up_in, 0, u1, u2, u4)
            _count_add_at(up_planes, eights, 3)
            a1, a2, a4, eights_a = _csa8(ag_in, 0, a1, a2, a4)
            a1, a2, a4, eights_b = _csa8(ag_in, 8, a1, a2, a4)
            sixteens, a8 = _csa(a8, eights_a, eights_b)
            _count_add_at(ag_planes, sixteens, 4)
        for j in range(whole, L):
            s = row[j]
            right = row[j + 1] if j < L - 1 else row[0]
            _count_add_at(up_planes, s, 0)
            _count_add_at(ag_planes, ~(s ^ right), 0)
            _count_add_at(ag_planes, ~(s ^ down[j]), 0)
    for plane, k in ((u1, 0), (u2, 1), (u4, 2)):
        _count_add_at(up_planes, plane, k)
    for plane, k in ((a1, 0), (a2, 1), (a4, 2), (a8, 3)):
        _count_add_at(ag_planes, plane, k)
    # counts reach at most 2 L^2 (the bonds): only the planes that can hold a bit
    planes = 1
    while (1 << planes) <= 2 * L * L:
        planes += 1
    for c in range(64):
        u = 0
        a = 0
        for k in range(planes):
            u += np.int64((up_planes[k] >> np.uint64(c)) & _ONE) << k
            a += np.int64((ag_planes[k] >> np.uint64(c)) & _ONE) << k
        ups[t, b, c] = u
        agree[t, b, c] = a


@numba.njit(parallel=True, cache=True, nogil=True)
def unpack(words, chains):
    """``int8`` spins ``(nT, chains, L, L)`` of +-1 from the packed words."""
    nT, _, L, _ = words.shape
    out = np.empty((nT, chains, L, L), np.int8)
    for task in prange(nT * chains):
        t = task // chains
        ch = task - t * chains
        b = ch // 64
        shift = np.uint64(ch - 64 * b)
        W = words[t, b]
        for i in range(L):
            for j in range(L):
                out[t, ch, i, j] = np.int8(2 * np.int64((W[i, j] >> shift) & _ONE) - 1)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def pack(spins, n_blocks):
    """Packed words ``(nT, n_blocks, L, L)`` from ``int8`` spins; padding bits are up."""
    nT, chains, L, _ = spins.shape
    words = np.empty((nT, n_blocks, L, L), np.uint64)
    for pair in prange(nT * n_blocks):
        t = pair // n_blocks
        b = pair - t * n_blocks
        for i in range(L):
            for j in range(L):
                w = _ZERO
                for c in range(64):
                    ch = 64 * b + c
                    if ch >= chains or spins[t, ch, i, j] > 0:
                        w |= _ONE << np.uint64(c)
                words[t, b, i, j] = w
    return words
