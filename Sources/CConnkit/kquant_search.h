// The k-quant scale searches of quant_kquant.c (ggml's make_qx_quants, make_q3_quants, make_qkx2_quants),
// eight groups per AVX2 vector, and the vector helpers they share. Included by quant_kquant.c only, inside
// its x86 section (it defines CK_AVX2 and KQ_INLINE).
#ifndef CK_KQUANT_SEARCH_H
#define CK_KQUANT_SEARCH_H
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF

typedef __m256 V;

static inline CK_AVX2 V splat(float f) { return _mm256_set1_ps(f); }

// nearest_int for |v| < 2^22, as a float (the searches' scaled values are bounded by their finite scales).
KQ_INLINE V round_bounded(V v) {
    return _mm256_sub_ps(_mm256_add_ps(v, splat(12582912.0f)), splat(12582912.0f));
}

// ggml's nearest_int bit for bit, for any input: add 1.5 * 2^23, keep the low mantissa bits.
KQ_INLINE V nearest_exact(V v) {
    __m256i bits = _mm256_castps_si256(_mm256_add_ps(v, splat(12582912.0f)));
    bits = _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x00400000));
    return _mm256_cvtepi32_ps(bits);
}

// max(low, v) then min(high, v) with v kept where it is NaN, as the Swift kernel's laneMax / laneMin.
KQ_INLINE V clamp(V v, float low, float high) {
    return _mm256_min_ps(splat(high), _mm256_max_ps(splat(low), v));
}

KQ_INLINE V magnitude(V v) { return _mm256_andnot_ps(splat(-0.0f), v); }
KQ_INLINE V pick(V mask, V yes, V no) { return _mm256_blendv_ps(no, yes, mask); }
KQ_INLINE V finite(V v) { return _mm256_cmp_ps(magnitude(v), splat(__builtin_inff()), _CMP_LT_OQ); }
KQ_INLINE int all(V mask) { return _mm256_movemask_ps(mask) == 0xFF; }

// ---- The searches, for `octets` independent vectors of eight groups (x[n*o + i]); loops over octets are
// innermost so that their sequential sums overlap. Each returns 0 when a lane's inverse scale is not finite.

// The symmetric searches' start per octet: the signed value of largest magnitude, the lanes below ggml's
// GROUP_MAX_EPS, the first inverse scale -nmax / max.
KQ_INLINE int symmetric_start(int n, float nmax, const V *x, V *max, V *zero, V *iscale) {
    V m = _mm256_setzero_ps(), amax = _mm256_setzero_ps();
    for (int i = 0; i < n; i++) {
        V ax = magnitude(x[i]);
        V larger = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
        amax = pick(larger, ax, amax);
        m = pick(larger, x[i], m);
    }
    *max = m;
    *zero = _mm256_cmp_ps(amax, splat(1e-15f), _CMP_LT_OQ);
    *iscale = _mm256_div_ps(splat(-nmax), m);
    return all(_mm256_or_ps(finite(*iscale), *zero));
}

// make_qx_quants(16, nmax, x, L, rmse_type = 1, NULL): codes in 0..<2*nmax, the scale per lane.
KQ_INLINE int search_qx(int octets, float nmax, const V *x, V *codes, V *scale) {
    enum { n = 16 };
    V max[4], zero[4], iscale[4], wx[4 * n], w[4 * n];
    V sumlx[4], suml2[4], best[4], bestIscale[4];
    for (int o = 0; o < octets; o++) {
        if (!symmetric_start(n, nmax, x + n * o, &max[o], &zero[o], &iscale[o])) return 0;
        for (int i = 0; i < n; i++) {
            w[n * o + i] = _mm256_mul_ps(x[n * o + i], x[n * o + i]);
            wx[n * o + i] = _mm256_mul_ps(w[n * o + i], x[n * o + i]);
        }
    }
    for (int step = -10; step <= 9; step++) {
        if (step == 0) continue;
        for (int o = 0; o < octets; o++) {
            if (step != -10) {
                // -(nmax + 0.1 * step) / max
                iscale[o] = _mm256_div_ps(splat(-(nmax + 0.1f * (float)step)), max[o]);
                if (!all(_mm256_or_ps(finite(iscale[o]), zero[o]))) return 0;
            }
            sumlx[o] = suml2[o] = _mm256_setzero_ps();
        }
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < octets; o++) {
                const int k = n * o + i;
                V l = clamp(round_bounded(_mm256_mul_ps(iscale[o], x[k])), -nmax, nmax - 1);
                sumlx[o] = _mm256_add_ps(sumlx[o], _mm256_mul_ps(wx[k], l));
                suml2[o] = _mm256_add_ps(suml2[o], _mm256_mul_ps(_mm256_mul_ps(w[k], l), l));
            }
        }
        for (int o = 0; o < octets; o++) {
            V quotient = _mm256_div_ps(sumlx[o], suml2[o]);
            if (step == -10) {
                // The first sums (at -nmax / max) set the scale to beat.
                scale[o] = pick(_mm256_cmp_ps(suml2[o], _mm256_setzero_ps(), _CMP_EQ_OQ), _mm256_setzero_ps(), quotient);
                best[o] = _mm256_mul_ps(scale[o], sumlx[o]);
                bestIscale[o] = iscale[o];
                continue;
            }
            V better = _mm256_and_ps(_mm256_cmp_ps(suml2[o], _mm256_setzero_ps(), _CMP_GT_OQ),
                                     _mm256_cmp_ps(_mm256_mul_ps(sumlx[o], sumlx[o]), _mm256_mul_ps(best[o], suml2[o]), _CMP_GT_OQ));
            scale[o] = pick(better, quotient, scale[o]);
            best[o] = pick(better, _mm256_mul_ps(quotient, sumlx[o]), best[o]);
            bestIscale[o] = pick(better, iscale[o], bestIscale[o]);
        }
    }
    for (int o = 0; o < octets; o++) {
        for (int i = 0; i < n; i++) {
            V l = _mm256_add_ps(clamp(round_bounded(_mm256_mul_ps(bestIscale[o], x[n * o + i])), -nmax, nmax - 1), splat(nmax));
            codes[n * o + i] = _mm256_andnot_ps(zero[o], l);
        }
        scale[o] = _mm256_andnot_ps(zero[o], scale[o]);
    }
    return 1;
}

// make_q3_quants(16, nmax, x, L, do_rmse = true): codes in 0..<2*nmax, refined by up to five passes.
KQ_INLINE int search_q3(int octets, float nmax, const V *x, V *codes, V *scale) {
    enum { n = 16 };
    // Per element: w = x^2, w*x, and the products of the current code (w*x*L, w*L*L) that the sums hold;
    // per octet: the sums and sumlx^2. Each changes only when a step is accepted.
    V max, zero[8], iscale, w[8 * n], wx[8 * n], wxl[8 * n], wll[8 * n], sumlx[8], suml2[8], square[8];
    for (int o = 0; o < octets; o++) {
        if (!symmetric_start(n, nmax, x + n * o, &max, &zero[o], &iscale)) return 0;
        sumlx[o] = suml2[o] = _mm256_setzero_ps();
        for (int i = 0; i < n; i++) {
            const int k = n * o + i;
            V l = clamp(round_bounded(_mm256_mul_ps(iscale, x[k])), -nmax, nmax - 1);
            codes[k] = l;
            w[k] = _mm256_mul_ps(x[k], x[k]);
            wx[k] = _mm256_mul_ps(w[k], x[k]);
            wxl[k] = _mm256_mul_ps(wx[k], l);
            wll[k] = _mm256_mul_ps(_mm256_mul_ps(w[k], l), l);
            sumlx[o] = _mm256_add_ps(sumlx[o], wxl[k]);
            suml2[o] = _mm256_add_ps(suml2[o], wll[k]);
        }
        square[o] = _mm256_mul_ps(sumlx[o], sumlx[o]);
    }
    // Up to five passes over the elements; ggml stops a group after a pass without changes. A group is at a
    // fixed point as soon as n steps in a row change nothing (every element has then been tried with the
    // current sums and codes), so an octet drops out n steps after its last change, mid-pass if need be.
    int last[8];
    for (int o = 0; o < octets; o++) last[o] = -1;
    for (int t = 0; t < 5 * n; t++) {
        const int i = t % n;
        int live = 0;
        for (int o = 0; o < octets; o++) {
            if (t - last[o] > n) continue;
            live = 1;
            const int k = n * o + i;
            V current = codes[k];
            V slx = _mm256_sub_ps(sumlx[o], wxl[k]);
            V positive = _mm256_cmp_ps(slx, _mm256_setzero_ps(), _CMP_GT_OQ);
            V sl2 = _mm256_sub_ps(suml2[o], wll[k]);
            // nearest_int(x * sl2 / slx): a rounding where the quotient is in nearest_int's range, the
            // exact bit arithmetic where a lane's is not (slx tiny).
            V q = _mm256_div_ps(_mm256_mul_ps(x[k], sl2), slx);
            V r = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            if (!all(_mm256_cmp_ps(magnitude(q), splat(4194303.0f), _CMP_LE_OQ))) r = nearest_exact(q);
            V newL = clamp(r, -nmax, nmax - 1);
            V differs = _mm256_cmp_ps(newL, current, _CMP_NEQ_UQ);
            V newWxl = _mm256_mul_ps(wx[k], newL), newWll = _mm256_mul_ps(_mm256_mul_ps(w[k], newL), newL);
            slx = _mm256_add_ps(slx, newWxl);
            sl2 = _mm256_add_ps(sl2, newWll);
            V newSquare = _mm256_mul_ps(slx, slx);
            V gain = _mm256_cmp_ps(_mm256_mul_ps(newSquare, suml2[o]), _mm256_mul_ps(square[o], sl2), _CMP_GT_OQ);
            V accept = _mm256_and_ps(_mm256_and_ps(positive, differs),
                                     _mm256_and_ps(_mm256_cmp_ps(sl2, _mm256_setzero_ps(), _CMP_GT_OQ), gain));
            codes[k] = pick(accept, newL, current);
            wxl[k] = pick(accept, newWxl, wxl[k]);
            wll[k] = pick(accept, newWll, wll[k]);
            sumlx[o] = pick(accept, slx, sumlx[o]);
            suml2[o] = pick(accept, sl2, suml2[o]);
            square[o] = pick(accept, newSquare, square[o]);
            // last[o] = t where a lane accepted, without a branch.
            last[o] += (t - last[o]) & -(_mm256_movemask_ps(accept) != 0);
        }
        // No octet left: none will come back.
        if (!live) break;
    }
    for (int o = 0; o < octets; o++) {
        for (int i = 0; i < n; i++) codes[n * o + i] = _mm256_andnot_ps(zero[o], _mm256_add_ps(codes[n * o + i], splat(nmax)));
        V none = _mm256_or_ps(_mm256_cmp_ps(suml2[o], _mm256_setzero_ps(), _CMP_LE_OQ), zero[o]);
        scale[o] = _mm256_andnot_ps(none, _mm256_div_ps(sumlx[o], suml2[o]));
    }
    return 1;
}

// make_qkx2_quants(n, nmax, x, weights, L, &min, Laux, rmin, 0.1, nstep, use_mad): codes in 0...nmax, the
// scale and the negated minimum per lane.
KQ_INLINE int search_qkx2(int octets, int n, float nmax, const V *x, const V *w, V *codes, V *scale, V *negMin,
                          float rmin, int nstep, int mad) {
    V min[4], max[4], sumW[4], sumX[4], flat[4], bestError[4], bestIscale[4], bestMin[4];
    for (int o = 0; o < octets; o++) {
        const V *xo = x + n * o, *wo = w + n * o;
        min[o] = max[o] = xo[0];
        sumW[o] = wo[0];
        sumX[o] = _mm256_mul_ps(sumW[o], xo[0]);
        for (int i = 1; i < n; i++) {
            min[o] = pick(_mm256_cmp_ps(xo[i], min[o], _CMP_LT_OQ), xo[i], min[o]);
            max[o] = pick(_mm256_cmp_ps(xo[i], max[o], _CMP_GT_OQ), xo[i], max[o]);
            sumW[o] = _mm256_add_ps(sumW[o], wo[i]);
            sumX[o] = _mm256_add_ps(sumX[o], _mm256_mul_ps(wo[i], xo[i]));
        }
        min[o] = pick(_mm256_cmp_ps(min[o], _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_setzero_ps(), min[o]);
        flat[o] = _mm256_cmp_ps(max[o], min[o], _CMP_EQ_OQ);
        V range = _mm256_sub_ps(max[o], min[o]);
        V iscale = _mm256_div_ps(splat(nmax), range);
        // Lanes that are not flat need a finite range and scale; flat lanes are overwritten at the end.
        if (!all(_mm256_and_ps(finite(range), _mm256_or_ps(finite(iscale), flat[o])))) return 0;
        scale[o] = _mm256_div_ps(splat(1.0f), iscale);
        V error = _mm256_setzero_ps();
        for (int i = 0; i < n; i++) {
            V l = clamp(round_bounded(_mm256_mul_ps(iscale, _mm256_sub_ps(xo[i], min[o]))), 0, nmax);
            V diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale[o], l), min[o]), xo[i]);
            diff = mad ? magnitude(diff) : _mm256_mul_ps(diff, diff);
            error = _mm256_add_ps(error, _mm256_mul_ps(wo[i], diff));
        }
        // The codes are a function of (iscale, min) at the time they were taken: remember those.
        bestError[o] = error;
        bestIscale[o] = iscale;
        bestMin[o] = min[o];
    }
    for (int step = 0; step <= nstep; step++) {
        V iscale[4], sumL[4], sumL2[4], sumXL[4], error[4], thisScale[4], thisMin[4], solvable[4];
        for (int o = 0; o < octets; o++) {
            iscale[o] = _mm256_div_ps(_mm256_add_ps(splat(rmin + 0.1f * (float)step), splat(nmax)), _mm256_sub_ps(max[o], min[o]));
            if (!all(_mm256_or_ps(finite(iscale[o]), flat[o]))) return 0;
            sumL[o] = sumL2[o] = sumXL[o] = error[o] = _mm256_setzero_ps();
        }
        V trial[64];
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < octets; o++) {
                const int k = n * o + i;
                V l = clamp(round_bounded(_mm256_mul_ps(iscale[o], _mm256_sub_ps(x[k], min[o]))), 0, nmax);
                trial[k] = l;
                V wl = _mm256_mul_ps(w[k], l);
                sumL[o] = _mm256_add_ps(sumL[o], wl);
                sumL2[o] = _mm256_add_ps(sumL2[o], _mm256_mul_ps(wl, l));
                sumXL[o] = _mm256_add_ps(sumXL[o], _mm256_mul_ps(wl, x[k]));
            }
        }
        for (int o = 0; o < octets; o++) {
            V D = _mm256_sub_ps(_mm256_mul_ps(sumW[o], sumL2[o]), _mm256_mul_ps(sumL[o], sumL[o]));
            solvable[o] = _mm256_cmp_ps(D, _mm256_setzero_ps(), _CMP_GT_OQ);
            thisScale[o] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sumW[o], sumXL[o]), _mm256_mul_ps(sumX[o], sumL[o])), D);
            thisMin[o] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sumL2[o], sumX[o]), _mm256_mul_ps(sumL[o], sumXL[o])), D);
            V positive = _mm256_cmp_ps(thisMin[o], _mm256_setzero_ps(), _CMP_GT_OQ);
            thisMin[o] = pick(positive, _mm256_setzero_ps(), thisMin[o]);
            thisScale[o] = pick(positive, _mm256_div_ps(sumXL[o], sumL2[o]), thisScale[o]);
        }
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < octets; o++) {
                const int k = n * o + i;
                V diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(thisScale[o], trial[k]), thisMin[o]), x[k]);
                diff = mad ? magnitude(diff) : _mm256_mul_ps(diff, diff);
                error[o] = _mm256_add_ps(error[o], _mm256_mul_ps(w[k], diff));
            }
        }
        for (int o = 0; o < octets; o++) {
            V better = _mm256_and_ps(solvable[o], _mm256_cmp_ps(error[o], bestError[o], _CMP_LT_OQ));
            bestError[o] = pick(better, error[o], bestError[o]);
            scale[o] = pick(better, thisScale[o], scale[o]);
            bestIscale[o] = pick(better, iscale[o], bestIscale[o]);
            bestMin[o] = pick(better, min[o], bestMin[o]);
            min[o] = pick(better, thisMin[o], min[o]);
        }
    }
    for (int o = 0; o < octets; o++) {
        for (int i = 0; i < n; i++) {
            V l = clamp(round_bounded(_mm256_mul_ps(bestIscale[o], _mm256_sub_ps(x[n * o + i], bestMin[o]))), 0, nmax);
            codes[n * o + i] = _mm256_andnot_ps(flat[o], l);
        }
        scale[o] = _mm256_andnot_ps(flat[o], scale[o]);
        // -min with C's sign of zero.
        negMin[o] = _mm256_mul_ps(min[o], splat(-1.0f));
    }
    return 1;
}

#endif
