# Usage: python3 tools/emulate/flash_fwd_sm90.py   (numpy)
# Written with kernels/cuda/flash_fwd_sm90.cu (2026-11-24, before any GPU run); keep in step with it
# or delete it once the GPU tests cover the kernel.
# Emulates kernels/cuda/flash_fwd_sm90.cu at the level of its index math and barrier protocol:
# TMA box writes with the 128-byte swizzle, wgmma operand reads through descriptors (PTX canonical
# layouts as understood), the accumulator / A-register fragment layouts, masks, online softmax,
# epilogue. Producer and two consumer warpgroups run as coroutines over modelled mbarriers with
# random scheduling and delayed TMA completion. Compares out / lse with a float64 reference.
import numpy as np, random, sys

kBr = kBc = 128
SLAB_ROW = 128

def swz(addr):
    return addr ^ (((addr >> 7) & 7) << 4)

def desc(addr, lbo, sbo):
    return ((addr & 0x3FFFF) >> 4) | (((lbo & 0x3FFFF) >> 4) << 16) | (((sbo & 0x3FFFF) >> 4) << 32) | (1 << 62)

def undesc(d):
    assert (d >> 62) == 1
    return (d & 0x3FFF) << 4, ((d >> 16) & 0x3FFF) << 4, ((d >> 32) & 0x3FFF) << 4

class Smem:
    def __init__(self, nbytes):
        self.v = np.full(nbytes // 2, np.nan, dtype=np.float64)
        self.busy = {}
    def write(self, addr, val): self.v[swz(addr) // 2] = val
    def read(self, addr): return self.v[swz(addr) // 2]

def read_kmajor(sm, d, rows):  # [rows, 16]
    start, lbo, sbo = undesc(d)
    out = np.empty((rows, 16))
    for mn in range(rows):
        for k in range(16):
            out[mn, k] = sm.read(start + (mn % 8) * 128 + (mn // 8) * sbo + k * 2)
    return out

def read_mnmajor(sm, d, n):  # [16, n]
    start, lbo, sbo = undesc(d)
    out = np.empty((16, n))
    for k in range(16):
        for j in range(n):
            out[k, j] = sm.read(start + (j % 64) * 2 + (j // 64) * lbo + (k % 8) * 128 + (k // 8) * sbo)
    return out

# fragment layouts, per thread t of the warpgroup
def d_rc(t, i):
    w, lane = t // 32, t % 32
    g, q = lane // 4, lane % 4
    e = i % 4
    return 16 * w + g + 8 * (e // 2), 8 * (i // 4) + 2 * q + (e % 2)

def a_rc(t, r, h):
    w, lane = t // 32, t % 32
    g, q = lane // 4, lane % 4
    return 16 * w + g + 8 * (r % 2), 2 * q + h + 8 * (r // 2)

def gather_d(acc):  # acc [128, N/2] -> [64, N]
    n = acc.shape[1] * 2
    D = np.full((64, n), np.nan)
    for t in range(128):
        for i in range(acc.shape[1]):
            r, c = d_rc(t, i); D[r, c] = acc[t, i]
    return D

def scatter_d(acc, D):
    for t in range(128):
        for i in range(acc.shape[1]):
            r, c = d_rc(t, i); acc[t, i] = D[r, c]

def wgmma_ss(acc, sm, da, db, scale_d):
    A = read_kmajor(sm, da, 64); B = read_kmajor(sm, db, acc.shape[1] * 2).T  # B[k][n]
    D = gather_d(acc) if scale_d else 0
    scatter_d(acc, D + A @ B)

def wgmma_rs(acc, a_regs, sm, db, n):  # a_regs [128, 4, 2] values
    A = np.full((64, 16), np.nan)
    for t in range(128):
        for r in range(4):
            for h in range(2):
                rr, cc = a_rc(t, r, h); A[rr, cc] = a_regs[t, r, h]
    B = read_mnmajor(sm, db, n)
    scatter_d(acc, gather_d(acc) + A @ B)

class Bar:
    def __init__(self, count): self.count = count; self.pending = count; self.tx = 0; self.ph = 0
    def arrive(self, tx=0):
        self.pending -= 1; self.tx += tx; self._check()
    def complete_tx(self, b): self.tx -= b; self._check()
    def _check(self):
        assert self.pending >= 0
        if self.pending == 0 and self.tx == 0:
            self.ph += 1; self.pending = self.count
    def done(self, parity): return (self.ph & 1) != parity

def rnd16(x, kind):
    if kind == 'f16': return np.float16(x).astype(np.float64)
    # bf16 round to nearest even
    a = np.asarray(x, dtype=np.float32).copy()
    u = a.view(np.uint32)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)

def run_cta(prob, HS, bidx, out, lse, rng):
    T, NH, group, causal, kls = prob['T'], prob['NH'], prob['group'], prob['causal'], prob['kls']
    m_blocks = (T + kBr - 1) // kBr
    m_rev = bidx % m_blocks; bh = bidx // m_blocks
    h = bh % NH; b = bh // NH; m0 = (m_blocks - 1 - m_rev) * kBr
    kv_len = min(max(kls[b], 0), T) if kls is not None else T
    vis = lambda i: min(i + 1 if causal else T, kv_len)
    n_max = vis(min(m0 + kBr, T) - 1)
    n_blocks = (n_max + kBc - 1) // kBc
    slabs = HS // 64; stages = 3 if HS == 64 else 2
    qslab, kvslab = kBr * 128, kBc * 128
    qbytes, kvbytes = slabs * qslab, slabs * kvslab
    kOff, vOff = qbytes, qbytes + stages * kvbytes
    sm = Smem(vOff + stages * kvbytes)
    q_full = Bar(1); k_full = [Bar(1) for _ in range(stages)]; v_full = [Bar(1) for _ in range(stages)]
    k_empty = [Bar(8) for _ in range(stages)]; v_empty = [Bar(8) for _ in range(stages)]
    tma_queue = []
    in_use = {}  # (kind, stage) -> number of warpgroups holding it

    def tma(dst, src, head, t0, rows, c0, bar):
        def fire():
            for r in range(rows):
                for c in range(64):
                    t = t0 + r
                    val = src[b, t, head * HS + c0 + c] if t < T else 0.0
                    sm.write(dst + r * 128 + c * 2, val)
            bar.complete_tx(rows * 128)
        tma_queue.append(fire)

    def producer():
        if n_blocks == 0: return
        q_full.arrive(qbytes)
        for sl in range(slabs): tma(sl * qslab, prob['q'], h, m0, kBr, sl * 64, q_full)
        def load(kind, j):
            s = j % stages
            full, empty = (k_full[s], k_empty[s]) if kind == 'K' else (v_full[s], v_empty[s])
            while not empty.done(((j // stages) & 1) ^ 1): yield
            assert in_use.get((kind, s), 0) == 0, "producer overwrites a buffer in use"
            full.arrive(kvbytes)
            dst = (kOff if kind == 'K' else vOff) + s * kvbytes
            src = prob['k'] if kind == 'K' else prob['v']
            for sl in range(slabs): tma(dst + sl * kvslab, src, h // group, j * kBc, kBc, sl * 64, full)
        yield from load('K', 0)
        for j in range(1, n_blocks):
            yield from load('K', j); yield from load('V', j - 1)
        yield from load('V', n_blocks - 1)

    def consumer(cw):
        scale_log2 = prob['scale'] * 1.4426950408889634
        t_ids = np.arange(128)
        warp = t_ids // 32; lane = t_ids % 32
        row0 = m0 + 64 * cw + 16 * warp + lane // 4
        n_vis = np.stack([np.minimum(np.where(causal, row0 + 1, T), kv_len), np.minimum(np.where(causal, row0 + 9, T), kv_len)], 1)
        n_min = vis(m0 + 64 * cw)
        o = np.zeros((128, HS // 2)); m = np.full((128, 2), -np.inf); l = np.zeros((128, 2))
        s = np.zeros((128, 64))
        q_tile = cw * 64 * 128

        def issue_qk(k_tile):
            for kk in range(HS // 16):
                col = (kk % 4) * 32
                da = desc(q_tile + (kk // 4) * qslab + col, 16, 1024)
                db = desc(k_tile + (kk // 4) * kvslab + col, 16, 1024)
                wgmma_ss(s, sm, da, db, kk > 0)

        def issue_pv(pa, v_tile):
            for kk in range(kBc // 16):
                rows = v_tile + kk * 16 * 128
                wgmma_rs(o, pa[:, 4 * kk:4 * kk + 4], sm, desc(rows, 1024 if HS == 64 else kvslab, 1024), HS)

        def mask(kv0):
            c0 = 2 * (lane % 4)
            for r in range(2):
                lim = n_vis[:, r] - kv0
                for i in range(kBc // 8):
                    for e in range(2):
                        sel = 8 * i + c0 + e >= lim
                        s[sel, 4 * i + 2 * r + e] = -np.inf

        def quad_max(x):  # xor 1, 2 over lanes
            x = np.maximum(x, x[t_ids ^ 1]); return np.maximum(x, x[t_ids ^ 2])

        def softmax():
            corr = np.zeros((128, 2))
            for r in range(2):
                cols = [4 * i + 2 * r + e for i in range(kBc // 8) for e in range(2)]
                mx = np.maximum(m[:, r], s[:, cols].max(1))
                mx = quad_max(mx)
                ref = np.where(mx == -np.inf, 0.0, mx * scale_log2)
                with np.errstate(invalid='ignore'):
                    corr[:, r] = np.exp2(m[:, r] * scale_log2 - ref)
                m[:, r] = mx
                s[:, cols] = np.exp2(s[:, cols] * scale_log2 - ref[:, None])
                l[:, r] = l[:, r] * corr[:, r] + s[:, cols].sum(1)
            assert not np.isnan(s).any() and not np.isnan(corr).any()
            return corr

        def pack():
            pa = np.empty((128, 32, 2))
            for kk in range(kBc // 16):
                for r in range(4):
                    pa[:, 4 * kk + r, 0] = rnd16(s[:, 8 * kk + 2 * r], prob['kind'])
                    pa[:, 4 * kk + r, 1] = rnd16(s[:, 8 * kk + 2 * r + 1], prob['kind'])
            return pa

        def hold(kind, st, d): in_use[(kind, st)] = in_use.get((kind, st), 0) + d
        def release(bar):
            for _ in range(4): bar.arrive()

        if n_blocks > 0:
            while not q_full.done(0): yield
            while not k_full[0].done(0): yield
            hold('K', 0, 1); issue_qk(kOff); yield; hold('K', 0, -1); release(k_empty[0])
            if kBc > n_min: mask(0)
            softmax(); pa = pack()
            for j in range(1, n_blocks):
                sk, sv = j % stages, (j - 1) % stages
                while not k_full[sk].done((j // stages) & 1): yield
                hold('K', sk, 1); issue_qk(kOff + sk * kvbytes)
                while not v_full[sv].done(((j - 1) // stages) & 1): yield
                hold('V', sv, 1); issue_pv(pa, vOff + sv * kvbytes)
                yield  # async
                hold('K', sk, -1); release(k_empty[sk])
                if j * kBc + kBc > n_min: mask(j * kBc)
                corr = softmax()
                yield
                hold('V', sv, -1); release(v_empty[sv])
                o[:, 0::4] *= corr[:, :1]; o[:, 1::4] *= corr[:, :1]
                o[:, 2::4] *= corr[:, 1:]; o[:, 3::4] *= corr[:, 1:]
                pa = pack()
            jl = n_blocks - 1; sv = jl % stages
            while not v_full[sv].done((jl // stages) & 1): yield
            hold('V', sv, 1); issue_pv(pa, vOff + sv * kvbytes); yield; hold('V', sv, -1); release(v_empty[sv])
        # epilogue
        q = lane % 4
        for r in range(2):
            sm_ = l[:, r] + l[t_ids ^ 1, r]; sm_ = sm_ + sm_[t_ids ^ 2]
            row = row0 + 8 * r
            for t in range(128):
                if row[t] >= T: continue
                inv = 1 / sm_[t] if sm_[t] > 0 else 0.0
                if q[t] == 0:
                    lse[b, h, row[t]] = m[t, r] * prob['scale'] + np.log(sm_[t]) if sm_[t] > 0 else np.inf
                for i in range(HS // 8):
                    base = h * HS + 8 * i + 2 * q[t]
                    out[b, row[t], base] = o[t, 4 * i + 2 * r] * inv
                    out[b, row[t], base + 1] = o[t, 4 * i + 2 * r + 1] * inv

    agents = [producer(), consumer(0), consumer(1)]
    alive = list(agents)
    steps = 0
    while alive or tma_queue:
        steps += 1; assert steps < 10 ** 6, "deadlock"
        if tma_queue and (not alive or rng.random() < 0.3):
            tma_queue.pop(rng.randrange(len(tma_queue)) if rng.random() < 0.5 else 0)()
            continue
        if not alive: continue
        a = rng.choice(alive)
        try: next(a)
        except StopIteration: alive.remove(a)
    assert all(v == 0 for v in in_use.values())

def reference(prob, HS):
    q, k, v = prob['q'], prob['k'], prob['v']
    B, T, NH, group = q.shape[0], prob['T'], prob['NH'], prob['group']
    out = np.zeros((B, T, NH * HS)); lse = np.full((B, NH, T), np.inf)
    for b in range(B):
        kl = T if prob['kls'] is None else min(max(prob['kls'][b], 0), T)
        for h in range(NH):
            g = h // group
            S = q[b, :, h * HS:(h + 1) * HS] @ k[b, :, g * HS:(g + 1) * HS].T * prob['scale']
            for i in range(T):
                n = min(i + 1 if prob['causal'] else T, kl)
                if n == 0: continue
                mx = S[i, :n].max(); p = np.exp(S[i, :n] - mx)
                lse[b, h, i] = mx + np.log(p.sum())
                out[b, i, h * HS:(h + 1) * HS] = p @ v[b, :n, g * HS:(g + 1) * HS] / p.sum()
    return out, lse

def check(B, T, NH, NKV, HS, causal, kls, kind, seed):
    rng = np.random.default_rng(seed); prng = random.Random(seed)
    mk = lambda n: rnd16(rng.standard_normal((B, T, n)).astype(np.float32), kind)
    prob = dict(T=T, NH=NH, group=NH // NKV, causal=causal, kls=kls, kind=kind, scale=1 / np.sqrt(HS),
                q=mk(NH * HS), k=mk(NKV * HS), v=mk(NKV * HS))
    out = np.full((B, T, NH * HS), np.nan); lse = np.full((B, NH, T), np.nan)
    m_blocks = (T + kBr - 1) // kBr
    for bidx in range(m_blocks * B * NH): run_cta(prob, HS, bidx, out, lse, prng)
    ro, rl = reference(prob, HS)
    assert not np.isnan(out).any() and not np.isnan(lse).any(), "unwritten or NaN"
    fin = np.isfinite(rl)
    assert (np.isfinite(lse) == fin).all(), "lse inf pattern"
    eo = np.abs(out - ro).max(); el = np.abs(lse[fin] - rl[fin]).max() if fin.any() else 0
    print(f"B={B} T={T} NH={NH} NKV={NKV} HS={HS} causal={causal} kls={kls} {kind}: max|dout|={eo:.3g} max|dlse|={el:.3g}")
    assert eo < 3e-2 and el < 1e-3, "mismatch"

if __name__ == '__main__':
    check(1, 130, 2, 1, 64, True, None, 'bf16', 1)
    check(1, 200, 1, 1, 128, False, None, 'f16', 2)
    check(2, 257, 2, 2, 64, True, [0, 150], 'bf16', 3)
    check(1, 3, 1, 1, 128, True, None, 'bf16', 4)
    check(2, 300, 2, 1, 128, False, [37, 1000], 'f16', 5)
    check(1, 513, 1, 1, 64, True, [400], 'bf16', 6)
