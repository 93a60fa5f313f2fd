//! QR code encoder (ISO/IEC 18004, byte mode, ECC level M or L, versions 1–10) and SVG output.
//! Enough for `bunker://` / `nostrconnect://` URIs (up to 271 bytes at 10-L).

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    #[error("data too long for a version 1–10 QR code ({0} bytes)")]
    TooLong(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecc {
    L,
    M,
}

impl Ecc {
    fn format_bits(self) -> u32 {
        match self {
            Ecc::L => 1,
            Ecc::M => 0,
        }
    }
}

/// Per version 1..=10: (ec codewords per block, [(blocks, data codewords per block); 2]) for L and M.
type BlockSpec = (usize, [(usize, usize); 2]);
const TABLE_L: [BlockSpec; 10] = [
    (7, [(1, 19), (0, 0)]),
    (10, [(1, 34), (0, 0)]),
    (15, [(1, 55), (0, 0)]),
    (20, [(1, 80), (0, 0)]),
    (26, [(1, 108), (0, 0)]),
    (18, [(2, 68), (0, 0)]),
    (20, [(2, 78), (0, 0)]),
    (24, [(2, 97), (0, 0)]),
    (30, [(2, 116), (0, 0)]),
    (18, [(2, 68), (2, 69)]),
];
const TABLE_M: [BlockSpec; 10] = [
    (10, [(1, 16), (0, 0)]),
    (16, [(1, 28), (0, 0)]),
    (26, [(1, 44), (0, 0)]),
    (18, [(2, 32), (0, 0)]),
    (24, [(2, 43), (0, 0)]),
    (16, [(4, 27), (0, 0)]),
    (18, [(4, 31), (0, 0)]),
    (22, [(2, 38), (2, 39)]),
    (22, [(3, 36), (2, 37)]),
    (26, [(4, 43), (1, 44)]),
];
const ALIGN: [&[usize]; 10] = [
    &[],
    &[6, 18],
    &[6, 22],
    &[6, 26],
    &[6, 30],
    &[6, 34],
    &[6, 22, 38],
    &[6, 24, 42],
    &[6, 26, 46],
    &[6, 28, 50],
];

fn spec(version: usize, ecc: Ecc) -> BlockSpec {
    match ecc {
        Ecc::L => TABLE_L[version - 1],
        Ecc::M => TABLE_M[version - 1],
    }
}

fn data_capacity(version: usize, ecc: Ecc) -> usize {
    let (_, g) = spec(version, ecc);
    g[0].0 * g[0].1 + g[1].0 * g[1].1
}

/// A QR symbol: `size × size` modules, `true` = dark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrCode {
    pub version: usize,
    pub ecc: Ecc,
    pub mask: u8,
    pub size: usize,
    modules: Vec<bool>,
}

// ---- GF(256), polynomial 0x11D

fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1D;
        }
        b >>= 1;
    }
    r
}

/// Generator polynomial coefficients (highest degree first, leading 1 omitted).
fn rs_generator(degree: usize) -> Vec<u8> {
    let mut g = vec![0u8; degree];
    g[degree - 1] = 1;
    let mut root = 1u8;
    for _ in 0..degree {
        for j in 0..degree {
            g[j] = gf_mul(g[j], root);
            if j + 1 < degree {
                g[j] ^= g[j + 1];
            }
        }
        root = gf_mul(root, 2);
    }
    g
}

/// Remainder of data·x^n / g(x).
pub fn rs_remainder(data: &[u8], degree: usize) -> Vec<u8> {
    let g = rs_generator(degree);
    let mut r = vec![0u8; degree];
    for &b in data {
        let factor = b ^ r[0];
        r.remove(0);
        r.push(0);
        for (ri, gi) in r.iter_mut().zip(&g) {
            *ri ^= gf_mul(*gi, factor);
        }
    }
    r
}

impl QrCode {
    /// Encodes `data` in byte mode at the smallest version, preferring ECC M, falling back to L.
    pub fn encode(data: &[u8]) -> Result<QrCode, QrError> {
        for ecc in [Ecc::M, Ecc::L] {
            for v in 1..=10 {
                let count_bits = if v < 10 { 8 } else { 16 };
                let need_bits = 4 + count_bits + 8 * data.len();
                if need_bits <= 8 * data_capacity(v, ecc) && data.len() < (1 << count_bits) {
                    return Ok(Self::encode_at(data, v, ecc));
                }
            }
        }
        Err(QrError::TooLong(data.len()))
    }

    fn encode_at(data: &[u8], version: usize, ecc: Ecc) -> QrCode {
        let cap = data_capacity(version, ecc);
        // bit stream
        let mut bits: Vec<bool> = Vec::with_capacity(cap * 8);
        let push = |val: u32, n: usize, bits: &mut Vec<bool>| {
            for i in (0..n).rev() {
                bits.push((val >> i) & 1 == 1);
            }
        };
        push(0b0100, 4, &mut bits);
        push(
            data.len() as u32,
            if version < 10 { 8 } else { 16 },
            &mut bits,
        );
        for &b in data {
            push(u32::from(b), 8, &mut bits);
        }
        let term = (cap * 8 - bits.len()).min(4);
        push(0, term, &mut bits);
        while !bits.len().is_multiple_of(8) {
            bits.push(false);
        }
        let mut codewords: Vec<u8> = bits
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |acc, &b| (acc << 1) | u8::from(b)))
            .collect();
        let mut pad = [0xEC, 0x11].into_iter().cycle();
        while codewords.len() < cap {
            codewords.push(pad.next().unwrap_or(0xEC));
        }
        // blocks + interleave
        let (ec_len, groups) = spec(version, ecc);
        let mut blocks: Vec<(&[u8], Vec<u8>)> = Vec::new();
        let mut off = 0;
        for (n, len) in groups {
            for _ in 0..n {
                let d = &codewords[off..off + len];
                blocks.push((d, rs_remainder(d, ec_len)));
                off += len;
            }
        }
        let max_d = blocks.iter().map(|b| b.0.len()).max().unwrap_or(0);
        let mut out = Vec::new();
        for i in 0..max_d {
            for b in &blocks {
                if let Some(&c) = b.0.get(i) {
                    out.push(c);
                }
            }
        }
        for i in 0..ec_len {
            for b in &blocks {
                out.push(b.1[i]);
            }
        }
        let mut best: Option<(u32, QrCode)> = None;
        for mask in 0..8u8 {
            let q = Self::build(version, ecc, mask, &out);
            let p = q.penalty();
            if best.as_ref().is_none_or(|(bp, _)| p < *bp) {
                best = Some((p, q));
            }
        }
        match best {
            Some((_, q)) => q,
            None => Self::build(version, ecc, 0, &out),
        }
    }

    fn build(version: usize, ecc: Ecc, mask: u8, data: &[u8]) -> QrCode {
        let size = 17 + 4 * version;
        let mut m = vec![false; size * size];
        let mut f = vec![false; size * size];
        let set = |x: usize, y: usize, dark: bool, m: &mut Vec<bool>, f: &mut Vec<bool>| {
            m[y * size + x] = dark;
            f[y * size + x] = true;
        };
        // timing
        for i in 0..size {
            set(6, i, i % 2 == 0, &mut m, &mut f);
            set(i, 6, i % 2 == 0, &mut m, &mut f);
        }
        // finders + separators
        for (cx, cy) in [(3usize, 3usize), (size - 4, 3), (3, size - 4)] {
            for dy in -4i32..=4 {
                for dx in -4i32..=4 {
                    let (x, y) = (cx as i32 + dx, cy as i32 + dy);
                    if x < 0 || y < 0 || x >= size as i32 || y >= size as i32 {
                        continue;
                    }
                    let d = dx.abs().max(dy.abs());
                    set(x as usize, y as usize, d != 2 && d != 4, &mut m, &mut f);
                }
            }
        }
        // alignment
        let al = ALIGN[version - 1];
        let n = al.len();
        for i in 0..n {
            for j in 0..n {
                if (i, j) == (0, 0) || (i, j) == (0, n - 1) || (i, j) == (n - 1, 0) {
                    continue;
                }
                for dy in -2i32..=2 {
                    for dx in -2i32..=2 {
                        let d = dx.abs().max(dy.abs());
                        set(
                            (al[i] as i32 + dx) as usize,
                            (al[j] as i32 + dy) as usize,
                            d != 1,
                            &mut m,
                            &mut f,
                        );
                    }
                }
            }
        }
        // format (reserve + draw later), dark module
        let fmt = format_bits(ecc, mask);
        let bit = |v: u32, i: usize| (v >> i) & 1 == 1;
        for i in 0..=5 {
            set(8, i, bit(fmt, i), &mut m, &mut f);
        }
        set(8, 7, bit(fmt, 6), &mut m, &mut f);
        set(8, 8, bit(fmt, 7), &mut m, &mut f);
        set(7, 8, bit(fmt, 8), &mut m, &mut f);
        for i in 9..15 {
            set(14 - i, 8, bit(fmt, i), &mut m, &mut f);
        }
        for i in 0..8 {
            set(size - 1 - i, 8, bit(fmt, i), &mut m, &mut f);
        }
        for i in 8..15 {
            set(8, size - 15 + i, bit(fmt, i), &mut m, &mut f);
        }
        set(8, size - 8, true, &mut m, &mut f);
        // version info
        if version >= 7 {
            let mut rem = version as u32;
            for _ in 0..12 {
                rem = (rem << 1) ^ ((rem >> 11) * 0x1F25);
            }
            let vb = (version as u32) << 12 | rem;
            for i in 0..18 {
                let a = size - 11 + i % 3;
                let b = i / 3;
                set(a, b, bit(vb, i), &mut m, &mut f);
                set(b, a, bit(vb, i), &mut m, &mut f);
            }
        }
        // data
        let total_bits = data.len() * 8;
        let mut i = 0usize;
        let mut right = size as i32 - 1;
        while right >= 1 {
            if right == 6 {
                right = 5;
            }
            for vert in 0..size {
                for j in 0..2 {
                    let x = (right - j) as usize;
                    let upward = ((right + 1) & 2) == 0;
                    let y = if upward { size - 1 - vert } else { vert };
                    if !f[y * size + x] && i < total_bits {
                        m[y * size + x] = (data[i >> 3] >> (7 - (i & 7))) & 1 == 1;
                        i += 1;
                    }
                }
            }
            right -= 2;
        }
        // mask
        for y in 0..size {
            for x in 0..size {
                if f[y * size + x] {
                    continue;
                }
                let inv = match mask {
                    0 => (x + y) % 2 == 0,
                    1 => y % 2 == 0,
                    2 => x % 3 == 0,
                    3 => (x + y) % 3 == 0,
                    4 => (x / 3 + y / 2) % 2 == 0,
                    5 => x * y % 2 + x * y % 3 == 0,
                    6 => (x * y % 2 + x * y % 3) % 2 == 0,
                    _ => ((x + y) % 2 + x * y % 3) % 2 == 0,
                };
                if inv {
                    m[y * size + x] = !m[y * size + x];
                }
            }
        }
        QrCode {
            version,
            ecc,
            mask,
            size,
            modules: m,
        }
    }

    pub fn get(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.modules[y * self.size + x]
    }

    /// Penalty rules 1 (runs), 2 (2×2 blocks), 3 (finder-like patterns) and 4 (balance).
    fn penalty(&self) -> u32 {
        let n = self.size;
        let mut p = 0u32;
        for horizontal in [true, false] {
            for a in 0..n {
                let mut run = 0;
                let mut last = None;
                let line: Vec<bool> = (0..n)
                    .map(|b| {
                        if horizontal {
                            self.get(b, a)
                        } else {
                            self.get(a, b)
                        }
                    })
                    .collect();
                for &c in &line {
                    if Some(c) == last {
                        run += 1;
                        if run == 5 {
                            p += 3;
                        } else if run > 5 {
                            p += 1;
                        }
                    } else {
                        run = 1;
                        last = Some(c);
                    }
                }
                let pat = [true, false, true, true, true, false, true];
                for s in 0..n.saturating_sub(6) {
                    if line[s..s + 7] == pat {
                        let before = s >= 4 && line[s - 4..s].iter().all(|b| !b);
                        let after = s + 11 <= n && line[s + 7..s + 11].iter().all(|b| !b);
                        if before || after {
                            p += 40;
                        }
                    }
                }
            }
        }
        for y in 0..n - 1 {
            for x in 0..n - 1 {
                let c = self.get(x, y);
                if c == self.get(x + 1, y) && c == self.get(x, y + 1) && c == self.get(x + 1, y + 1)
                {
                    p += 3;
                }
            }
        }
        let dark = self.modules.iter().filter(|b| **b).count();
        let total = n * n;
        let k = (dark * 20)
            .abs_diff(total * 10)
            .div_ceil(total)
            .saturating_sub(1);
        p + (k as u32) * 10
    }

    /// SVG with a 4-module quiet zone, one `<path>` for the dark modules.
    pub fn to_svg(&self, module_px: usize) -> String {
        let border = 4;
        let dim = self.size + 2 * border;
        let mut d = String::new();
        for y in 0..self.size {
            for x in 0..self.size {
                if self.get(x, y) {
                    d.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
                }
            }
        }
        let px = dim * module_px.max(1);
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{px}\" height=\"{px}\" viewBox=\"0 0 {dim} {dim}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/><path d=\"{d}\" fill=\"#000000\"/></svg>"
        )
    }

    /// Plain PBM (P1) image, `scale` pixels per module, with quiet zone (for tests and tools).
    pub fn to_pbm(&self, scale: usize) -> String {
        let border = 4;
        let dim = (self.size + 2 * border) * scale;
        let mut s = format!("P1\n{dim} {dim}\n");
        for py in 0..dim {
            let y = (py / scale) as isize - border as isize;
            let row: Vec<&str> = (0..dim)
                .map(|px| {
                    let x = (px / scale) as isize - border as isize;
                    if x >= 0 && y >= 0 && self.get(x as usize, y as usize) {
                        "1"
                    } else {
                        "0"
                    }
                })
                .collect();
            s.push_str(&row.join(" "));
            s.push('\n');
        }
        s
    }
}

fn format_bits(ecc: Ecc, mask: u8) -> u32 {
    let data = ecc.format_bits() << 3 | u32::from(mask);
    let mut rem = data;
    for _ in 0..10 {
        rem = (rem << 1) ^ ((rem >> 9) * 0x537);
    }
    (data << 10 | rem) ^ 0x5412
}

/// Convenience: SVG for a string (e.g. a `bunker://` URI).
pub fn svg_for(text: &str) -> Result<String, QrError> {
    Ok(QrCode::encode(text.as_bytes())?.to_svg(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_bits_match_the_standard_table() {
        // ISO 18004 Table C.1: M/mask0 = 101010000010010, L/mask0 = 111011111000100.
        assert_eq!(format_bits(Ecc::M, 0), 0b101010000010010);
        assert_eq!(format_bits(Ecc::L, 0), 0b111011111000100);
        assert_eq!(format_bits(Ecc::L, 7), 0b110100101110110);
    }

    #[test]
    fn rs_matches_standard_example() {
        // ISO 18004 Annex I: "01234567" 1-M data codewords and their 10 EC codewords.
        let data = [
            16, 32, 12, 86, 97, 128, 236, 17, 236, 17, 236, 17, 236, 17, 236, 17,
        ];
        assert_eq!(
            rs_remainder(&data, 10),
            vec![165, 36, 212, 193, 237, 54, 199, 135, 44, 85]
        );
    }

    #[test]
    fn version_selection_and_limits() {
        assert_eq!(
            QrCode::encode(b"hello").map(|q| (q.version, q.ecc)),
            Ok((1, Ecc::M))
        );
        assert_eq!(
            QrCode::encode(&[b'a'; 213]).map(|q| (q.version, q.ecc)),
            Ok((10, Ecc::M))
        );
        assert_eq!(
            QrCode::encode(&[b'a'; 214]).map(|q| (q.version, q.ecc)),
            Ok((9, Ecc::L))
        );
        assert_eq!(QrCode::encode(&[b'a'; 272]), Err(QrError::TooLong(272)));
        let svg = svg_for("bunker://x").unwrap_or_default();
        assert!(svg.starts_with("<svg") && svg.contains("<path d=\"M"));
    }
}
