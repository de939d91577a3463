//! Every instruction of the R30x command table (and the R50x additions) answered by the
//! simulator over a real pseudo-terminal, through our driver, with the confirmation codes a
//! module gives for bad arguments.

mod common;

use common::*;
use enroll_hardware::fingerprint::protocol::{ConfirmationCode as C, Instruction, SysParam};
use enroll_hardware::fingerprint::synth::ImageCondition;
use enroll_hardware::fingerprint::{Scanner, ScannerError};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn code<T: std::fmt::Debug>(r: Result<T, ScannerError>) -> Option<C> {
    r.expect_err("the module should refuse").code()
}

#[test]
fn every_instruction_is_answered_with_the_datasheet_codes() {
    let placements = vec![
        good("c/thumb"),
        good("c/thumb"),
        good("c/index"),
        poor("c/blank", ImageCondition::Blank),
    ];
    let rig = Rig::start(scenario(FAST, placements));
    let mut s = rig.open(Some(FAST));
    let d = Duration::from_secs(3);

    // System: handshake, sensor, port, cancel, versions, random numbers.
    s.hand_shake().unwrap();
    s.check_sensor().unwrap();
    s.port_control(true).unwrap();
    s.cancel_instruction().unwrap();
    assert!(s.firmware_version().unwrap().starts_with("SIM-FW"));
    assert!(s.algorithm_version().unwrap().starts_with("SIM-ALG"));
    let randoms: Vec<u32> = (0..3).map(|_| s.random_code().unwrap()).collect();
    assert!(randoms[0] != randoms[1] || randoms[1] != randoms[2]);
    let inf = s.read_inf_page().unwrap();
    assert_eq!(inf.len(), 512);
    assert_eq!(&inf[4..6], &1000u16.to_be_bytes(), "capacity in the page");

    // Notepad: 16 pages of 32 bytes; page 16 does not exist (0x1C).
    let page: [u8; 32] = std::array::from_fn(|i| i as u8 * 3);
    s.write_notepad(15, page).unwrap();
    assert_eq!(s.read_notepad(15).unwrap(), page);
    assert_eq!(s.read_notepad(0).unwrap(), [0; 32]);
    assert_eq!(code(s.read_notepad(16)), Some(C::WrongNotepadPage));
    assert_eq!(code(s.write_notepad(16, page)), Some(C::WrongNotepadPage));

    // Images: GenBinImage needs an image (0x15), takes kinds 0..=2.
    assert_eq!(code(s.gen_bin_image(0)), Some(C::NoValidImage));
    s.wait_finger(d).unwrap();
    s.img2tz(1).unwrap();
    s.wait_lift(d).unwrap();
    assert!(s.get_image_ex().unwrap(), "GetImageEx takes a good image");
    s.img2tz(2).unwrap();
    s.reg_model().unwrap();
    let img = s.up_image().unwrap();
    s.down_image(&img).unwrap();
    s.gen_bin_image(0).unwrap();
    let bin = s.up_image().unwrap();
    assert!(bin.pixels.iter().all(|&p| p == 0 || p == 255));
    assert_eq!(code(s.gen_bin_image(3)), Some(C::PacketError));

    // Library: the index table shows the used slots, 256 per page (bit 0 first).
    for page in [0u16, 9, 300] {
        s.store(1, page).unwrap();
    }
    assert_eq!(code(s.store(1, 1000)), Some(C::PageOutOfRange));
    assert_eq!(code(s.load_char(1, 1000)), Some(C::PageOutOfRange));
    assert_eq!(code(s.load_char(1, 8)), Some(C::TemplateReadError));
    assert_eq!(s.read_index_table(0).unwrap(), vec![0, 9]);
    assert_eq!(s.read_index_table(1).unwrap(), vec![300]);
    assert_eq!(s.read_index_table(3).unwrap(), Vec::<u16>::new());
    assert_eq!(code(s.read_index_table(4)), Some(C::PacketError));
    assert_eq!(s.template_count().unwrap(), 3);
    s.load_char(2, 9).unwrap();
    assert!(s.match_buffers().unwrap().0);
    let t = s.up_char(2).unwrap();
    s.down_char(2, &t).unwrap();
    assert!(s.high_speed_search(2, 0, 1000).unwrap().is_some());
    // Search looks only at StartPage .. StartPage + PageNum.
    assert_eq!(s.search(2, 10, 100).unwrap(), None);
    assert_eq!(s.search(2, 250, 100).unwrap().map(|(p, _)| p), Some(300));
    assert_eq!(code(s.delete_char(999, 2)), Some(C::DeleteFailed));
    s.delete_char(9, 1).unwrap();
    assert_eq!(s.read_index_table(0).unwrap(), vec![0]);
    s.wait_lift(d).unwrap();

    // A different finger; then a blank one, which GetImageEx refuses as poor (0x07).
    s.wait_finger(d).unwrap();
    s.img2tz(2).unwrap();
    assert!(!s.match_buffers().unwrap().0);
    s.wait_lift(d).unwrap();
    let mut blank = None;
    for _ in 0..50 {
        match s.get_image_ex() {
            Ok(false) => std::thread::sleep(Duration::from_millis(20)),
            other => {
                blank = Some(other);
                break;
            }
        }
    }
    assert_eq!(
        blank.expect("a placement").unwrap_err().code(),
        Some(C::TooFewFeatures)
    );
    s.empty().unwrap();
    assert_eq!(s.template_count().unwrap(), 0);

    // Settings are stored; the ring light takes its four bytes.
    s.set_sys_para(SysParam::SecurityLevel(4)).unwrap();
    assert_eq!(s.read_sys_para().unwrap().security_level, 4);
    s.aura_led(3, 0, 4, 0).unwrap();

    // Password and address live in flash; SoftRst loses the RAM buffers and needs the
    // password again, which the driver gives.
    s.set_password(0x0077).unwrap();
    s.set_address(0xA1B2_C3D4).unwrap();
    assert_eq!(s.read_sys_para().unwrap().address, 0xA1B2_C3D4);
    let power_ups = rig.sim.stats().power_ups.load(Ordering::Relaxed);
    s.soft_reset().unwrap();
    assert_eq!(
        rig.sim.stats().power_ups.load(Ordering::Relaxed),
        power_ups + 1
    );
    assert_eq!(code(s.up_char(1)), Some(C::UploadFeatureFailed));
    assert_eq!(s.read_notepad(15).unwrap(), page, "the notepad is in flash");
    drop(s);
    let mut cfg = rig.config(Some(FAST));
    cfg.address = 0xA1B2_C3D4;
    let refused = Scanner::open(cfg.clone())
        .err()
        .expect("old password refused");
    assert_eq!(refused.code(), Some(C::WrongPassword));
    cfg.password = 0x0077;
    let mut s = Scanner::open(cfg).unwrap();
    s.verify_password().unwrap();

    let answered = rig.sim.stats().answered.lock().unwrap().clone();
    let missing: Vec<&str> = Instruction::ALL
        .iter()
        .filter(|i| !answered.contains(i))
        .map(|i| i.name())
        .collect();
    assert!(missing.is_empty(), "never exercised: {missing:?}");
}
