//! Frame-to-photo and frame-to-preview timings on a generated 1280x720 studio frame.

use criterion::{criterion_group, criterion_main, Criterion};
use enroll_hardware::camera::scene::{render, SceneSpec};
use enroll_hardware::photo::{
    crop_to_guide, encode_within, preview, process_frame, PhotoConfig, PhotoOutcome, PhotoProfile,
    Thresholds, PREVIEW_HEIGHT, PREVIEW_WIDTH,
};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let frame = render(&SceneSpec::good(1280, 720));
    let config = PhotoConfig::new(PhotoProfile::CardFace);
    // The benchmark is only meaningful if the frame goes all the way to an encoded photo.
    match process_frame(&frame, &config) {
        Ok(PhotoOutcome::Accepted { .. }) => {}
        other => panic!("bench frame not accepted: {other:?}"),
    }
    c.bench_function("frame_to_accepted_photo_1280x720", |b| {
        b.iter(|| process_frame(black_box(&frame), &config))
    });
    c.bench_function("frame_to_preview_640x360", |b| {
        b.iter(|| preview(black_box(&frame), PREVIEW_WIDTH, PREVIEW_HEIGHT))
    });
    // The stages, to see where the time goes.
    let photo = crop_to_guide(&frame, &config.guide, config.profile).expect("crop");
    c.bench_function("stage_crop_resize", |b| {
        b.iter(|| crop_to_guide(black_box(&frame), &config.guide, config.profile))
    });
    c.bench_function("stage_checks", |b| {
        b.iter(|| {
            enroll_hardware::photo::assess(
                black_box(&photo),
                PhotoProfile::CardFace,
                &Thresholds::default(),
            )
        })
    });
    c.bench_function("stage_encode_50k", |b| {
        b.iter(|| encode_within(black_box(&photo), 50_000))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
