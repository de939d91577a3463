//! The simulated module's logic: what an R307 answers to each packet. No I/O here; the
//! pseudo-terminal side lives in the parent module.

use super::super::codec::{Packet, PacketId};
use super::super::features::analyse;
use super::super::image::FingerImage;
use super::super::protocol::{
    Command, ConfirmationCode, Instruction, PacketSize, ProdInfo, SysParam, SysParams, INDEX_PAGES,
    INDEX_PAGE_BYTES, INF_PAGE_LEN, NOTEPAD_PAGES, NOTEPAD_PAGE_LEN,
};
use super::super::synth::{self, FingerPattern, HEIGHT, WIDTH};
use super::super::template::{threshold, Template, TEMPLATE_LEN};
use super::scenario::{Placement, Scenario};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Fewest foreground blocks Img2Tz accepts (of 288).
const MIN_FEATURE_BLOCKS: usize = 30;
/// Mean block coherence below which Img2Tz calls the image too messy.
const MIN_COHERENCE: f32 = 0.45;

/// What survives a power cycle.
#[derive(Debug, Clone)]
struct Flash {
    baud_multiplier: u8,
    packet_size: PacketSize,
    security_level: u8,
    address: u32,
    password: u32,
    capacity: u16,
    library: BTreeMap<u16, Vec<u8>>,
    notepad: [[u8; NOTEPAD_PAGE_LEN]; NOTEPAD_PAGES as usize],
}

enum FingerState {
    /// No finger: GenImg answers "no finger" `polls_left` more times before the next placement.
    Lifted { polls_left: u32 },
    /// Finger on the sensor; GenImg still sees it `hold_left` more times.
    Down { hold_left: u32 },
}

/// Where incoming data packets go after DownChar/DownImage.
enum Receiving {
    Char(usize, Vec<u8>),
    Image(Vec<u8>),
}

pub struct Module {
    flash: Flash,
    active_baud: u32,
    answers_prod_info: bool,
    image: Option<FingerImage>,
    buffers: [Option<Vec<u8>>; 6],
    verified: bool,
    receiving: Option<Receiving>,
    finger: FingerState,
    placements: Vec<Placement>,
    repeat: bool,
    placement: usize,
    captures: u64,
    patterns: HashMap<u64, Arc<FingerPattern>>,
}

/// The packets answering one incoming packet.
pub struct Reply {
    /// The command answered, if the packet was a command.
    pub instruction: Option<Instruction>,
    pub packets: Vec<Packet>,
    /// The module restarted after answering (SoftRst): the line sends the 0x55 ready byte.
    pub restarted: bool,
}

impl Module {
    pub fn new(s: &Scenario) -> Self {
        let placements = if s.placements.is_empty() {
            (0..10)
                .map(|i| Placement::good(format!("sim-{i}")))
                .collect()
        } else {
            s.placements.clone()
        };
        let flash = Flash {
            baud_multiplier: (s.baud / 9600).clamp(1, 96) as u8,
            packet_size: PacketSize::from_bytes(s.packet_size).unwrap_or(PacketSize::B128),
            security_level: s.security_level.clamp(1, 5),
            address: super::super::codec::DEFAULT_ADDRESS,
            password: s.password,
            capacity: s.capacity,
            library: BTreeMap::new(),
            notepad: [[0; NOTEPAD_PAGE_LEN]; NOTEPAD_PAGES as usize],
        };
        let first_polls = placements.first().map_or(0, |p| p.no_finger_polls);
        let patterns = generate_patterns(&placements);
        let mut m = Module {
            active_baud: 9600 * u32::from(flash.baud_multiplier),
            flash,
            answers_prod_info: s.prod_info,
            image: None,
            buffers: Default::default(),
            verified: false,
            receiving: None,
            finger: FingerState::Lifted {
                polls_left: first_polls,
            },
            repeat: s.repeat || s.placements.is_empty(),
            placements,
            placement: 0,
            captures: 0,
            patterns,
        };
        m.power_up();
        m
    }

    /// Power-up: RAM is lost, the stored baud rate takes effect.
    pub fn power_up(&mut self) {
        self.active_baud = 9600 * u32::from(self.flash.baud_multiplier);
        self.image = None;
        self.buffers = Default::default();
        self.verified = false;
        self.receiving = None;
    }

    /// The rate the module's UART runs at now.
    pub fn baud(&self) -> u32 {
        self.active_baud
    }

    pub fn address(&self) -> u32 {
        self.flash.address
    }

    pub fn template_count(&self) -> usize {
        self.flash.library.len()
    }

    /// A frame arrived with a bad checksum: commands get confirmation 0x01.
    pub fn on_bad_frame(&mut self, id: PacketId) -> Reply {
        let packets = if id == PacketId::Command {
            vec![self.ack(ConfirmationCode::PacketError, &[])]
        } else {
            self.receiving = None;
            vec![]
        };
        Reply {
            instruction: None,
            packets,
            restarted: false,
        }
    }

    pub fn on_packet(&mut self, p: Packet) -> Reply {
        if p.address != self.flash.address {
            // A real module ignores packets for another address.
            return Reply {
                instruction: None,
                packets: vec![],
                restarted: false,
            };
        }
        match p.id {
            PacketId::Command => {
                self.receiving = None;
                let instruction = p.payload.first().and_then(|&c| Instruction::from_code(c));
                let (packets, restarted) = match Command::parse(&p.payload) {
                    Ok(Command::SoftRst) if self.may_run(&Command::SoftRst) => {
                        let ack = self.code(ConfirmationCode::Ok);
                        self.power_up();
                        (ack, true)
                    }
                    Ok(cmd) => (self.execute(cmd), false),
                    Err(code) => (vec![self.ack(code, &[])], false),
                };
                Reply {
                    instruction,
                    packets,
                    restarted,
                }
            }
            PacketId::Data | PacketId::EndData => {
                self.receive_data(p.id, &p.payload);
                Reply {
                    instruction: None,
                    packets: vec![],
                    restarted: false,
                }
            }
            PacketId::Ack => Reply {
                instruction: None,
                packets: vec![],
                restarted: false,
            },
        }
    }

    fn receive_data(&mut self, id: PacketId, payload: &[u8]) {
        let Some(rx) = self.receiving.as_mut() else {
            return;
        };
        match rx {
            Receiving::Char(_, buf) | Receiving::Image(buf) => buf.extend_from_slice(payload),
        }
        if id == PacketId::EndData {
            match self.receiving.take() {
                Some(Receiving::Char(slot, buf)) => self.buffers[slot] = Some(buf),
                Some(Receiving::Image(buf)) => {
                    self.image = FingerImage::from_packed(WIDTH, HEIGHT, &buf).ok();
                }
                None => {}
            }
        }
    }

    fn ack(&self, code: ConfirmationCode, params: &[u8]) -> Packet {
        let mut payload = vec![code.to_u8()];
        payload.extend_from_slice(params);
        Packet::new(self.flash.address, PacketId::Ack, payload)
    }

    fn code(&self, code: ConfirmationCode) -> Vec<Packet> {
        vec![self.ack(code, &[])]
    }

    /// Ack then the data in packets of the configured size, the last one an end packet.
    fn stream(&self, data: &[u8]) -> Vec<Packet> {
        let mut out = vec![self.ack(ConfirmationCode::Ok, &[])];
        let chunks: Vec<&[u8]> = data.chunks(self.flash.packet_size.bytes()).collect();
        for (i, c) in chunks.iter().enumerate() {
            let id = if i + 1 == chunks.len() {
                PacketId::EndData
            } else {
                PacketId::Data
            };
            out.push(Packet::new(self.flash.address, id, c.to_vec()));
        }
        out
    }

    fn slot(buffer: u8) -> Option<usize> {
        (1..=6).contains(&buffer).then(|| usize::from(buffer - 1))
    }

    fn params(&self) -> SysParams {
        SysParams {
            status: (u16::from(self.verified) << 2) | (u16::from(self.image.is_some()) << 3),
            system_id: 0,
            library_capacity: self.flash.capacity,
            security_level: u16::from(self.flash.security_level),
            address: self.flash.address,
            packet_size: self.flash.packet_size,
            baud_multiplier: u16::from(self.flash.baud_multiplier),
        }
    }

    /// A module with a password set answers nothing but VfyPwd until it is verified.
    fn may_run(&self, cmd: &Command) -> bool {
        self.flash.password == 0 || self.verified || matches!(cmd, Command::VfyPwd { .. })
    }

    fn execute(&mut self, cmd: Command) -> Vec<Packet> {
        use ConfirmationCode as C;
        if !self.may_run(&cmd) {
            return self.code(C::PasswordRequired);
        }
        match cmd {
            Command::VfyPwd { password } => {
                if password == self.flash.password {
                    self.verified = true;
                    self.code(C::Ok)
                } else {
                    self.code(C::WrongPassword)
                }
            }
            Command::ReadSysPara => vec![self.ack(C::Ok, &self.params().to_bytes())],
            Command::ReadProdInfo => {
                if !self.answers_prod_info {
                    return self.code(C::PacketError);
                }
                let info = ProdInfo {
                    model: "R307-SIM".into(),
                    batch: "0001".into(),
                    serial: "SIM00001".into(),
                    hardware_version: (1, 0),
                    sensor: "SIMOPT".into(),
                    image_width: WIDTH as u16,
                    image_height: HEIGHT as u16,
                    template_size: TEMPLATE_LEN as u16,
                    library_size: self.flash.capacity,
                };
                vec![self.ack(C::Ok, &info.to_bytes())]
            }
            Command::GenImg => self.gen_img(),
            Command::Img2Tz { buffer } => {
                let Some(slot) = Self::slot(buffer) else {
                    return self.code(C::PacketError);
                };
                match self.features() {
                    Ok(t) => {
                        self.buffers[slot] = Some(t.to_bytes().to_vec());
                        self.code(C::Ok)
                    }
                    Err(code) => self.code(code),
                }
            }
            Command::RegModel => match (self.template(0), self.template(1)) {
                (Some(a), Some(b)) if a.match_score(&b) >= self.threshold() => {
                    let merged = a.merge(&b).to_bytes().to_vec();
                    self.buffers[0] = Some(merged.clone());
                    self.buffers[1] = Some(merged);
                    self.code(C::Ok)
                }
                _ => self.code(C::MergeFailed),
            },
            Command::UpChar { buffer } => {
                match Self::slot(buffer).and_then(|s| self.buffers[s].clone()) {
                    Some(t) => self.stream(&t),
                    None => self.code(C::UploadFeatureFailed),
                }
            }
            Command::DownChar { buffer } => match Self::slot(buffer) {
                Some(s) => {
                    self.receiving = Some(Receiving::Char(s, Vec::new()));
                    self.code(C::Ok)
                }
                None => self.code(C::CannotReceiveData),
            },
            Command::UpImage => match &self.image {
                Some(img) => {
                    let data = img.to_packed();
                    self.stream(&data)
                }
                None => self.code(C::UploadImageFailed),
            },
            Command::DownImage => {
                self.receiving = Some(Receiving::Image(Vec::new()));
                self.code(C::Ok)
            }
            Command::Match => {
                let score = match (self.template(0), self.template(1)) {
                    (Some(a), Some(b)) => a.match_score(&b),
                    _ => 0,
                };
                let code = if score >= self.threshold() {
                    C::Ok
                } else {
                    C::NoMatch
                };
                vec![self.ack(code, &score.to_be_bytes())]
            }
            Command::Search {
                buffer,
                start,
                count,
            }
            | Command::HighSpeedSearch {
                buffer,
                start,
                count,
            } => self.search(buffer, start, count),
            Command::Store { buffer, page } => {
                if page >= self.flash.capacity {
                    return self.code(C::PageOutOfRange);
                }
                match Self::slot(buffer).and_then(|s| self.buffers[s].clone()) {
                    Some(t) => {
                        self.flash.library.insert(page, t);
                        self.code(C::Ok)
                    }
                    None => self.code(C::FlashError),
                }
            }
            Command::LoadChar { buffer, page } => {
                if page >= self.flash.capacity {
                    return self.code(C::PageOutOfRange);
                }
                let Some(slot) = Self::slot(buffer) else {
                    return self.code(C::PacketError);
                };
                match self.flash.library.get(&page) {
                    Some(t) => {
                        self.buffers[slot] = Some(t.clone());
                        self.code(C::Ok)
                    }
                    None => self.code(C::TemplateReadError),
                }
            }
            Command::DeleteChar { page, count } => {
                let end = u32::from(page) + u32::from(count);
                if count == 0 || end > u32::from(self.flash.capacity) {
                    return self.code(C::DeleteFailed);
                }
                self.flash
                    .library
                    .retain(|&p, _| u32::from(p) < u32::from(page) || u32::from(p) >= end);
                self.code(C::Ok)
            }
            Command::Empty => {
                self.flash.library.clear();
                self.code(C::Ok)
            }
            Command::TemplateNum => {
                let n = self.flash.library.len() as u16;
                vec![self.ack(C::Ok, &n.to_be_bytes())]
            }
            Command::SetSysPara(param) => {
                match param {
                    // Stored now, used from the next power-up, as on the real module.
                    SysParam::BaudMultiplier(n) => self.flash.baud_multiplier = n,
                    SysParam::SecurityLevel(l) => self.flash.security_level = l,
                    SysParam::PacketSize(p) => self.flash.packet_size = p,
                }
                self.code(C::Ok)
            }
            Command::AuraLedConfig { .. }
            | Command::Cancel
            | Command::CheckSensor
            | Command::HandShake => self.code(C::Ok),
            Command::SetPwd { password } => {
                self.flash.password = password;
                self.code(C::Ok)
            }
            Command::SetAdder { address } => {
                // The acknowledgement already comes from the new address.
                self.flash.address = address;
                self.code(C::Ok)
            }
            Command::GetRandomCode => {
                let n: u32 = rand::random();
                vec![self.ack(C::Ok, &n.to_be_bytes())]
            }
            Command::ReadInfPage => self.stream(&self.inf_page()),
            Command::Control { on } => match on {
                0 | 1 => self.code(C::Ok),
                _ => self.code(C::PortControlFailed),
            },
            Command::WriteNotepad { page, data } => {
                match self.flash.notepad.get_mut(usize::from(page)) {
                    Some(p) => {
                        *p = data;
                        self.code(C::Ok)
                    }
                    None => self.code(C::WrongNotepadPage),
                }
            }
            Command::ReadNotepad { page } => match self.flash.notepad.get(usize::from(page)) {
                Some(p) => vec![self.ack(C::Ok, p)],
                None => self.code(C::WrongNotepadPage),
            },
            Command::GenBinImage { kind } => {
                if kind > 2 {
                    return self.code(C::PacketError);
                }
                match self.image.as_mut() {
                    Some(img) => {
                        binarise(img);
                        self.code(C::Ok)
                    }
                    None => self.code(C::NoValidImage),
                }
            }
            Command::ReadIndexTable { page } => {
                if page >= INDEX_PAGES {
                    return self.code(C::PacketError);
                }
                vec![self.ack(C::Ok, &self.index_table(page))]
            }
            Command::GetImageEx => {
                let packets = self.gen_img();
                let took = packets
                    .first()
                    .and_then(|p| p.payload.first())
                    .is_some_and(|&c| c == C::Ok.to_u8());
                // GetImageEx judges the image as Img2Tz would, where GenImg takes anything.
                if took && self.features().is_err() {
                    return self.code(C::TooFewFeatures);
                }
                packets
            }
            Command::GetAlgVer => vec![self.ack(C::Ok, &text32("SIM-ALG-1.0"))],
            Command::GetFwVer => vec![self.ack(C::Ok, &text32("SIM-FW-1.0"))],
            // Answered in `on_packet`, which restarts the module after the acknowledgement.
            Command::SoftRst => self.code(C::Ok),
        }
    }

    fn search(&self, buffer: u8, start: u16, count: u16) -> Vec<Packet> {
        use ConfirmationCode as C;
        let Some(probe) = Self::slot(buffer).and_then(|s| self.template(s)) else {
            return vec![self.ack(C::NotFound, &[0, 0, 0, 0])];
        };
        let end = u32::from(start) + u32::from(count);
        let best = self
            .flash
            .library
            .range(start..)
            .take_while(|(&page, _)| u32::from(page) < end)
            .filter_map(|(&page, bytes)| {
                Template::from_bytes(bytes)
                    .ok()
                    .map(|t| (page, probe.match_score(&t)))
            })
            .max_by_key(|&(_, score)| score);
        match best {
            Some((page, score)) if score >= self.threshold() => {
                let mut r = page.to_be_bytes().to_vec();
                r.extend_from_slice(&score.to_be_bytes());
                vec![self.ack(C::Ok, &r)]
            }
            _ => vec![self.ack(C::NotFound, &[0, 0, 0, 0])],
        }
    }

    /// Which of 256 slots of index page `page` hold a template: slot 8j+k is bit k (least
    /// significant first) of byte j, as pyfingerprint and the manuals' examples read it.
    fn index_table(&self, page: u8) -> [u8; INDEX_PAGE_BYTES] {
        let mut t = [0u8; INDEX_PAGE_BYTES];
        let first = u32::from(page) * 256;
        for &slot in self.flash.library.keys() {
            let i = u32::from(slot).wrapping_sub(first);
            if i < 256 {
                t[(i / 8) as usize] |= 1 << (i % 8);
            }
        }
        t
    }

    /// The 512-byte information page: system parameters, then the product text.
    fn inf_page(&self) -> Vec<u8> {
        let mut page = self.params().to_bytes().to_vec();
        page.extend_from_slice(&text32("R307-SIM GROW-COMPATIBLE"));
        page.resize(INF_PAGE_LEN, 0);
        page
    }

    /// Img2Tz's work: the template of the image buffer, or why there is none.
    fn features(&self) -> Result<Template, ConfirmationCode> {
        let img = self.image.as_ref().ok_or(ConfirmationCode::NoValidImage)?;
        let t = Template::extract(img, &analyse(img));
        if t.foreground_blocks() < MIN_FEATURE_BLOCKS {
            Err(ConfirmationCode::TooFewFeatures)
        } else if t.coherence < MIN_COHERENCE {
            Err(ConfirmationCode::ImageTooMessy)
        } else {
            Ok(t)
        }
    }

    fn threshold(&self) -> u16 {
        threshold(u16::from(self.flash.security_level))
    }

    fn template(&self, slot: usize) -> Option<Template> {
        self.buffers
            .get(slot)?
            .as_ref()
            .and_then(|b| Template::from_bytes(b).ok())
    }

    fn gen_img(&mut self) -> Vec<Packet> {
        use ConfirmationCode as C;
        match &mut self.finger {
            FingerState::Lifted { polls_left } if *polls_left > 0 => {
                *polls_left -= 1;
                self.code(C::NoFinger)
            }
            FingerState::Lifted { .. } => {
                let Some(p) = self.current_placement().cloned() else {
                    return self.code(C::NoFinger);
                };
                self.finger = FingerState::Down {
                    hold_left: p.hold_polls,
                };
                self.capture(&p);
                self.code(C::Ok)
            }
            FingerState::Down { hold_left } if *hold_left > 0 => {
                *hold_left -= 1;
                if let Some(p) = self.current_placement().cloned() {
                    self.capture(&p);
                }
                self.code(C::Ok)
            }
            FingerState::Down { .. } => {
                // The finger is lifted; the next placement starts.
                self.placement += 1;
                let polls_left = self.current_placement().map_or(0, |p| p.no_finger_polls);
                self.finger = FingerState::Lifted { polls_left };
                self.code(C::NoFinger)
            }
        }
    }

    fn current_placement(&self) -> Option<&Placement> {
        let n = self.placements.len();
        if n == 0 || (!self.repeat && self.placement >= n) {
            return None;
        }
        self.placements.get(self.placement % n)
    }

    /// Renders the placement into the image buffer (the pattern is made on first use if the
    /// scenario did not name it up front).
    fn capture(&mut self, p: &Placement) {
        let seed = synth::seed_of(&p.finger);
        let pattern = self
            .patterns
            .entry(seed)
            .or_insert_with(|| Arc::new(FingerPattern::generate(seed)))
            .clone();
        self.captures += 1;
        let placement_seed = seed ^ self.captures.wrapping_mul(0x2545_F491_4F6C_DD1D);
        self.image = Some(pattern.render(placement_seed, p.condition));
    }
}

/// An ASCII string in a zero-padded 32-byte field (GetAlgVer, GetFwVer).
fn text32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = s.len().min(32);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

/// GenBinImage: ridges black, valleys white, split at the image's mean level.
fn binarise(img: &mut FingerImage) {
    let n = img.pixels.len().max(1);
    let mean = img.pixels.iter().map(|&p| u64::from(p)).sum::<u64>() / n as u64;
    for p in &mut img.pixels {
        *p = if u64::from(*p) < mean { 0 } else { 255 };
    }
}

/// Grows every finger the scenario names, on all cores, so GenImg answers as quickly as a
/// real sensor (pattern growth takes longer than a GenImg deadline in unoptimised builds).
fn generate_patterns(placements: &[Placement]) -> HashMap<u64, Arc<FingerPattern>> {
    let mut seeds: Vec<u64> = placements
        .iter()
        .map(|p| synth::seed_of(&p.finger))
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = seeds.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&s| (s, Arc::new(FingerPattern::generate(s))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .flatten()
            .collect()
    })
}
