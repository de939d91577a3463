//! Prints match scores and quality for synthetic fingers (used to set thresholds).
use enroll_hardware::fingerprint::features::analyse;
use enroll_hardware::fingerprint::quality::assess;
use enroll_hardware::fingerprint::synth::{seed_of, FingerPattern, ImageCondition};
use enroll_hardware::fingerprint::template::Template;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    let pats: Vec<_> = (0..n)
        .map(|i| FingerPattern::generate(seed_of(&format!("cal-{i}"))))
        .collect();
    let conds = [
        ImageCondition::Good,
        ImageCondition::Smudged,
        ImageCondition::Partial,
        ImageCondition::LowContrast,
        ImageCondition::Blank,
    ];
    let mut temps = Vec::new();
    for (i, p) in pats.iter().enumerate() {
        let mut row = Vec::new();
        for (k, c) in conds.iter().enumerate() {
            let img = p.render(1000 + i as u64 * 10 + k as u64, *c);
            let q = assess(&img);
            let t = Template::extract(&img, &analyse(&img));
            row.push(format!(
                "{:?}:q{} fg{} coh{:.2}",
                c,
                q.score,
                t.foreground_blocks(),
                t.coherence
            ));
        }
        println!("finger {i}: {}", row.join(" | "));
        let ex = |s: u64| {
            let img = p.render(s, ImageCondition::Good);
            Template::extract(&img, &analyse(&img))
        };
        temps.push((ex(1 + i as u64), ex(2 + 77 * i as u64)));
    }
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..n {
        let a = &temps[i].0;
        same.push((
            a.orientation_agreement(&temps[i].1).0,
            a.ridge_correlation(&temps[i].1),
            a.match_score(&temps[i].1),
        ));
        for (j, (_, b)) in temps.iter().enumerate() {
            if i != j {
                diff.push((
                    a.orientation_agreement(b).0,
                    a.ridge_correlation(b),
                    a.match_score(b),
                ));
            }
        }
    }
    same.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
    diff.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
    println!("same: {same:?}");
    println!("diff top: {:?}", &diff[diff.len().saturating_sub(8)..]);
}
