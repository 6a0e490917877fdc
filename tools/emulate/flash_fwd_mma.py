# Usage: python3 tools/emulate/flash_fwd_mma.py [a b c d e]   (numpy; slow: minutes per case)
# Written with kernels/cuda/flash_fwd_mma.cu (2026-11-24, before any GPU run); keep in step with it
# or delete it once the GPU tests cover the kernel.
# Emulates flash_fwd_mma_kernel (addresses, ldmatrix/mma fragment semantics per PTX ISA, masking,
# online softmax, epilogue) on numpy, warp by warp, and compares with exact attention.
import numpy as np, math, sys

def swz(RB, row, chunk): return row * RB + ((chunk ^ (row & 7)) << 4)

class Smem:
    def __init__(s, n): s.b = np.zeros(n, np.uint8)
    def w16(s, addr, halves): assert addr % 16 == 0; s.b[addr:addr+16] = np.frombuffer(halves.astype(np.float16).tobytes(), np.uint8)
    def r16(s, addr): assert addr % 16 == 0; return np.frombuffer(s.b[addr:addr+16].tobytes(), np.float16).astype(np.float32)
    def w4(s, addr, two): assert addr % 4 == 0; s.b[addr:addr+4] = np.frombuffer(np.array(two, np.float16).tobytes(), np.uint8)

def ldmatrix_x4(sm, addrs, trans):
    # returns regs[lane][i] = (lo, hi)
    mats = [np.stack([sm.r16(addrs[8*i + j]) for j in range(8)]) for i in range(4)]
    regs = []
    for l in range(32):
        rr = []
        for i in range(4):
            M = mats[i]
            if not trans: rr.append((M[l//4, 2*(l%4)], M[l//4, 2*(l%4)+1]))
            else: rr.append((M[2*(l%4), l//4], M[2*(l%4)+1, l//4]))
        regs.append(rr)
    return regs

def mma(d, a, b):
    # d[lane][4], a[lane][4] pairs, b[lane][2] pairs -> d += A B
    A = np.zeros((16,16), np.float32); B = np.zeros((16,8), np.float32)
    for l in range(32):
        g, c = l//4, l%4
        A[g, 2*c:2*c+2] = a[l][0]; A[g+8, 2*c:2*c+2] = a[l][1]
        A[g, 2*c+8:2*c+10] = a[l][2]; A[g+8, 2*c+8:2*c+10] = a[l][3]
        B[2*c:2*c+2, g] = b[l][0]; B[2*c+8:2*c+10, g] = b[l][1]
    D = A @ B
    for l in range(32):
        g, c = l//4, l%4
        d[l][0] += D[g, 2*c]; d[l][1] += D[g, 2*c+1]; d[l][2] += D[g+8, 2*c]; d[l][3] += D[g+8, 2*c+1]

def run(T, HS, NH, NKV, causal, lens, B=2, seed=0):
    rng = np.random.default_rng(seed)
    Cq, Ckv = NH*HS, NKV*HS
    q = rng.standard_normal((B, T, Cq)).astype(np.float16)
    k = rng.standard_normal((B, T, Ckv)).astype(np.float16)
    v = rng.standard_normal((B, T, Ckv)).astype(np.float16)
    if lens is not None:  # poison padding keys: must never reach the output
        for b in range(B):
            L = max(0, lens[b])
            k[b, L:] = np.float16(np.nan); v[b, L:] = np.float16(np.inf)
    out = np.full((B, T, Cq), np.nan, np.float32); lse = np.full((B, NH, T), np.nan, np.float32)
    Br, Bc = 64, (128 if HS == 64 else 64)
    RB, kChunks = HS*2, HS//8
    QB, KVB = Br*RB, Bc*RB
    scale = 1/math.sqrt(HS); scale_log2 = np.float32(scale*1.4426950408889634)
    nq = (T + Br - 1)//Br
    group = NH//NKV
    for blk in range(nq*B*NH):
        qb_raw, bh = blk % nq, blk // nq
        h, b = bh % NH, bh // NH
        q0 = (nq-1-qb_raw if causal else qb_raw)*Br
        kv_len = min(T, max(0, lens[b])) if lens is not None else T
        n_max = min(min(q0+Br, T), kv_len) if causal else kv_len
        n_min = min(q0+1, kv_len) if causal else kv_len
        sm = Smem(QB + 2*KVB)
        qt, kt, vt = 0, QB, QB + KVB
        def load_tile(tile, src, rows, row0, row_end):
            kPass = 128 // kChunks
            for tid in range(128):
                r, ch = tid // kChunks, tid % kChunks
                dst = tile + swz(RB, r, ch)
                for i in range(rows // kPass):
                    row = row0 + r + i*kPass
                    valid = row < row_end
                    sm.w16(dst + i*kPass*RB, src[row, ch*8:ch*8+8] if valid else np.zeros(8))
        qsrc = q[b, :, h*HS:(h+1)*HS]; kvh = h // group
        ksrc = k[b, :, kvh*HS:(kvh+1)*HS]; vsrc = v[b, :, kvh*HS:(kvh+1)*HS]
        nblk = (n_max + Bc - 1)//Bc
        load_tile(qt, qsrc, Br, q0, T)
        if nblk > 0: load_tile(kt, ksrc, Bc, 0, kv_len)
        W = []
        for w in range(4):
            ad = []
            for lane in range(32):
                ad.append((qt + swz(RB, w*16 + (lane & 15), lane >> 4),
                           kt + swz(RB, (lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1),
                           vt + swz(RB, lane & 15, lane >> 4)))
            lim = [[(min(q0 + w*16 + lane//4 + 8*hh + 1, kv_len) if causal else kv_len) for hh in range(2)] for lane in range(32)]
            W.append(dict(ad=ad, lim=lim, o=[[[0.0]*4 for _ in range(HS//8)] for _ in range(32)],
                          m=[[-np.inf, -np.inf] for _ in range(32)], l=[[0.0, 0.0] for _ in range(32)]))
        for j in range(nblk):
            key0 = j*Bc
            load_tile(vt, vsrc, Bc, key0, kv_len)
            S = []
            for w in range(4):
                ad = W[w]['ad']
                s = [[[0.0]*4 for _ in range(32)] for _ in range(Bc//8)]
                for kk in range(HS//16):
                    a = ldmatrix_x4(sm, [ad[l][0] ^ (kk << 5) for l in range(32)], False)
                    for np_ in range(Bc//16):
                        bb = ldmatrix_x4(sm, [(ad[l][1] + np_*16*HS*2) ^ (kk << 5) for l in range(32)], False)
                        mma(s[2*np_], a, [(x[0], x[1]) for x in bb])
                        mma(s[2*np_+1], a, [(x[2], x[3]) for x in bb])
                if key0 + Bc > n_min:
                    for nt in range(Bc//8):
                        for l in range(32):
                            for r in range(4):
                                if key0 + nt*8 + 2*(l%4) + (r%2) >= W[w]['lim'][l][r//2]: s[nt][l][r] = -np.inf
                # online softmax (per lane, quad max)
                for hh in range(2):
                    mx = [max(max(s[nt][l][2*hh], s[nt][l][2*hh+1]) for nt in range(Bc//8)) for l in range(32)]
                    qm = [max(mx[(l//4)*4 + t] for t in range(4)) for l in range(32)]
                    for l in range(32):
                        m_old = W[w]['m'][l][hh]
                        m_new = max(m_old, np.float32(qm[l]) * scale_log2)
                        m_ref = 0.0 if m_new == -np.inf else m_new
                        alpha = 2.0 ** (m_old - m_ref)
                        W[w]['m'][l][hh] = m_new
                        tot = 0.0
                        for nt in range(Bc//8):
                            for e in range(2):
                                pe = 2.0 ** (s[nt][l][2*hh+e]*scale_log2 - m_ref)
                                s[nt][l][2*hh+e] = pe; tot += pe
                        W[w]['l'][l][hh] = W[w]['l'][l][hh]*alpha + tot
                        for dt in range(HS//8):
                            W[w]['o'][l][dt][2*hh] *= alpha; W[w]['o'][l][dt][2*hh+1] *= alpha
                S.append(s)
            if j + 1 < nblk: pass  # K_{j+1} loaded after PV below (sequential emulation)
            for w in range(4):
                ad = W[w]['ad']; s = S[w]; o = W[w]['o']
                for kk in range(Bc//16):
                    f16 = lambda x: float(np.float16(x))
                    a = [((f16(s[2*kk][l][0]), f16(s[2*kk][l][1])), (f16(s[2*kk][l][2]), f16(s[2*kk][l][3])),
                          (f16(s[2*kk+1][l][0]), f16(s[2*kk+1][l][1])), (f16(s[2*kk+1][l][2]), f16(s[2*kk+1][l][3]))) for l in range(32)]
                    for dp in range(HS//16):
                        bb = ldmatrix_x4(sm, [(ad[l][2] + kk*16*HS*2) ^ (dp << 5) for l in range(32)], True)
                        d0 = [o[l][2*dp] for l in range(32)]; d1 = [o[l][2*dp+1] for l in range(32)]
                        mma(d0, a, [(x[0], x[1]) for x in bb]); mma(d1, a, [(x[2], x[3]) for x in bb])
            if j + 1 < nblk: load_tile(kt, ksrc, Bc, key0 + Bc, kv_len)
        # epilogue
        for w in range(4):
            o, m, l_ = W[w]['o'], W[w]['m'], W[w]['l']
            for hh in range(2):
                for lane in range(32):
                    tot = sum(l_[(lane//4)*4 + t][hh] for t in range(4))
                    inv = 1/tot if tot > 0 else 0.0
                    row = w*16 + lane//4 + 8*hh
                    for dt in range(HS//8):
                        off = swz(RB, row, dt) + 4*(lane % 4)
                        sm.w4(off, [o[lane][dt][2*hh]*inv, o[lane][dt][2*hh+1]*inv])
                    i = q0 + row
                    if lane % 4 == 0 and i < T:
                        lse[b, h, i] = m[lane][hh]*0.6931471805599453 + math.log(tot) if tot > 0 else np.inf
            for idx in range(16*kChunks):
                r, ch = idx // kChunks, idx % kChunks; i = q0 + w*16 + r
                if i < T: out[b, i, h*HS + ch*8: h*HS + ch*8 + 8] = sm.r16(swz(RB, w*16 + r, ch))
    # reference
    err = 0.0; lerr = 0.0
    for b in range(B):
        for h in range(NH):
            kvh = h // group
            for i in range(T):
                n = (i+1 if causal else T)
                if lens is not None: n = min(n, max(0, lens[b]))
                if n == 0:
                    assert np.all(out[b, i, h*HS:(h+1)*HS] == 0) and lse[b, h, i] == np.inf, (b, h, i)
                    continue
                qq = q[b, i, h*HS:(h+1)*HS].astype(np.float64)
                kk_ = k[b, :n, kvh*HS:(kvh+1)*HS].astype(np.float64); vv = v[b, :n, kvh*HS:(kvh+1)*HS].astype(np.float64)
                sc = kk_ @ qq * scale; mm = sc.max(); p = np.exp(sc - mm)
                ref = p @ vv / p.sum(); rl = mm + math.log(p.sum())
                err = max(err, np.abs(out[b, i, h*HS:(h+1)*HS] - ref).max()); lerr = max(lerr, abs(lse[b, h, i] - rl))
    print(f"T={T} HS={HS} NH={NH} NKV={NKV} causal={causal} lens={lens}: max|out-ref|={err:.2e} max|lse-ref|={lerr:.2e}")
    assert err < 2e-2 and lerr < 1e-3, "MISMATCH"

CASES = {'a': lambda: run(70, 64, 2, 1, True, None), 'b': lambda: run(70, 128, 2, 2, False, None),
         'c': lambda: run(130, 64, 2, 1, False, [100, 0]), 'd': lambda: run(75, 128, 2, 1, True, [40, 75]),
         'e': lambda: run(1, 64, 1, 1, True, None)}
for cfg in (sys.argv[1:] or sorted(CASES)):
    CASES[cfg]()
