//! The R30x driver over a serial port.
//!
//! Opening probes the baud rate (57600 first, then 9600 × N), verifies the password
//! (handshake), then reads the system parameters: the data packet size comes from ReadSysPara
//! and the image geometry from ReadProdInfo when the module has it (R503 and newer firmware),
//! else the 256 × 288 sensor every R307/AS608/ZFM/FPM10 carries; the uploaded byte count is
//! checked against it. Every command has a deadline; a lost or garbled reply is retried.
//! An unplugged scanner is reported as [`ScannerError::Disconnected`]; [`Scanner::reconnect`]
//! reopens the same path and handshakes again.

use super::codec::{FrameReader, Packet, PacketId, DEFAULT_ADDRESS, OVERHEAD};
use super::error::ScannerError;
use super::image::FingerImage;
use super::protocol::{
    Command, ConfirmationCode, Instruction, PacketSize, ProdInfo, SysParam, SysParams,
    INDEX_PAGE_BYTES, NOTEPAD_PAGE_LEN,
};
use serde::Serialize;
use serialport::{ClearBuffer, SerialPort, TTYPort};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The baud rates tried when none is given: the factory default, then 9600 × N.
pub const PROBE_BAUDS: [u32; 12] = [
    57600, 115_200, 9600, 19200, 38400, 28800, 48000, 67200, 76800, 86400, 96000, 105_600,
];

/// Default R307 sensor geometry, used when the module has no ReadProdInfo.
pub const DEFAULT_IMAGE_SIZE: (usize, usize) = (256, 288);

/// A flag the UI sets to stop a waiting or transferring scanner.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub struct ScannerConfig {
    pub path: PathBuf,
    /// Fixed baud rate, or `None` to probe [`PROBE_BAUDS`].
    pub baud: Option<u32>,
    pub address: u32,
    pub password: u32,
    /// Deadline for one acknowledgement beyond line time; instructions that work on the
    /// image or the flash get more (see [`processing_time`]).
    pub command_timeout: Duration,
    /// Extra attempts at a command whose reply was lost or garbled.
    pub retries: u32,
    /// GenImg polling interval while waiting for a finger.
    pub poll_interval: Duration,
    /// How long [`Scanner::reconnect`] waits for the scanner to come back.
    pub reconnect_timeout: Duration,
}

impl ScannerConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ScannerConfig {
            path: path.into(),
            baud: None,
            address: DEFAULT_ADDRESS,
            password: 0,
            command_timeout: Duration::from_millis(500),
            retries: 2,
            poll_interval: Duration::from_millis(150),
            reconnect_timeout: Duration::from_secs(10),
        }
    }
}

/// Bytes that crossed the line, both ways (for line-time comparisons).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LinkStats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub stray_bytes: u64,
}

/// What `info` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ScannerInfo {
    pub path: String,
    pub baud: u32,
    pub params: SysParams,
    pub packet_bytes: usize,
    pub prod_info: Option<ProdInfo>,
    pub image_width: usize,
    pub image_height: usize,
    pub template_count: u16,
}

pub struct Scanner {
    cfg: ScannerConfig,
    port: Option<TTYPort>,
    reader: FrameReader,
    baud: u32,
    params: Option<SysParams>,
    prod_info: Option<ProdInfo>,
    cancel: CancelToken,
    stats: LinkStats,
    /// A transfer was abandoned mid-stream: let the module finish before the next command.
    needs_drain: bool,
}

type Result<T> = std::result::Result<T, ScannerError>;

impl Scanner {
    /// Opens the port, finds the baud rate, handshakes and reads the module's parameters.
    pub fn open(cfg: ScannerConfig) -> Result<Self> {
        let mut s = Scanner {
            baud: cfg.baud.unwrap_or(PROBE_BAUDS[0]),
            cfg,
            port: None,
            reader: FrameReader::new(),
            params: None,
            prod_info: None,
            cancel: CancelToken::new(),
            stats: LinkStats::default(),
            needs_drain: false,
        };
        s.connect()?;
        Ok(s)
    }

    /// Shares a cancel flag with the UI.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    pub fn baud(&self) -> u32 {
        self.baud
    }

    pub fn stats(&self) -> LinkStats {
        LinkStats {
            stray_bytes: self.reader.skipped(),
            ..self.stats
        }
    }

    pub fn config(&self) -> &ScannerConfig {
        &self.cfg
    }

    /// Parameters read at the last handshake.
    pub fn params(&self) -> Option<&SysParams> {
        self.params.as_ref()
    }

    pub fn prod_info(&self) -> Option<&ProdInfo> {
        self.prod_info.as_ref()
    }

    /// Data packet payload size currently in force.
    pub fn packet_bytes(&self) -> usize {
        self.params.map_or(128, |p| p.packet_size.bytes())
    }

    pub fn image_size(&self) -> (usize, usize) {
        self.prod_info
            .as_ref()
            .filter(|p| p.image_width > 0 && p.image_height > 0)
            .map_or(DEFAULT_IMAGE_SIZE, |p| {
                (usize::from(p.image_width), usize::from(p.image_height))
            })
    }

    pub fn info(&mut self) -> Result<ScannerInfo> {
        let params = self.read_sys_para()?;
        let template_count = self.template_count()?;
        let (w, h) = self.image_size();
        Ok(ScannerInfo {
            path: self.cfg.path.display().to_string(),
            baud: self.baud,
            packet_bytes: params.packet_size.bytes(),
            params,
            prod_info: self.prod_info.clone(),
            image_width: w,
            image_height: h,
            template_count,
        })
    }

    /// Closes the port and opens it again, waiting up to `reconnect_timeout` for the device
    /// to reappear (after an unplug), then handshakes again.
    pub fn reconnect(&mut self) -> Result<()> {
        self.release_port();
        let deadline = Instant::now() + self.cfg.reconnect_timeout;
        loop {
            match self.connect() {
                Ok(()) => return Ok(()),
                Err(e @ ScannerError::Cancelled) => return Err(e),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {
                    self.release_port();
                    self.sleep(Duration::from_millis(200))?;
                }
            }
        }
    }

    fn connect(&mut self) -> Result<()> {
        let path = self.cfg.path.display().to_string();
        let port = serialport::new(path.clone(), self.baud)
            .timeout(Duration::from_millis(20))
            .open_native()
            .map_err(|source| ScannerError::Open {
                path: path.clone(),
                source,
            })?;
        self.port = Some(port);
        self.reader.clear();
        let bauds: Vec<u32> = match self.cfg.baud {
            Some(b) => vec![b],
            // Try the last known rate first after a replug.
            None => std::iter::once(self.baud)
                .chain(PROBE_BAUDS.into_iter().filter(|&b| b != self.baud))
                .collect(),
        };
        let mut found = false;
        for baud in bauds {
            self.set_baud(baud)?;
            match self.handshake() {
                Ok(()) => {
                    found = true;
                    break;
                }
                Err(ScannerError::Timeout(_) | ScannerError::Frame(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        if !found {
            return Err(ScannerError::NoModule { path });
        }
        self.params = Some(self.read_sys_para()?);
        self.prod_info = self.read_prod_info()?;
        Ok(())
    }

    /// Closes the port, first lifting TIOCEXCL: on a pty whose other side stays open the
    /// flag would outlive us and refuse the next open to anyone but root.
    fn release_port(&mut self) {
        if let Some(mut port) = self.port.take() {
            // Best effort: a hung-up port may refuse, and is gone anyway.
            let _ = port.set_exclusive(false);
        }
    }

    fn set_baud(&mut self, baud: u32) -> Result<()> {
        let port = self.port_mut()?;
        port.set_baud_rate(baud)
            .map_err(|e| ScannerError::Disconnected(e.into()))?;
        self.baud = baud;
        Ok(())
    }

    fn handshake(&mut self) -> Result<()> {
        self.discard_input()?;
        // One try per rate: a wrong rate only ever times out.
        let cmd = Command::VfyPwd {
            password: self.cfg.password,
        };
        self.send_packet(PacketId::Command, &cmd.payload())?;
        let ack = self.recv_ack(Instruction::VfyPwd, self.cfg.command_timeout)?;
        match ack.first().map(|&c| ConfirmationCode::from_u8(c)) {
            Some(ConfirmationCode::Ok) => Ok(()),
            Some(code) => Err(ScannerError::Module {
                instruction: Instruction::VfyPwd,
                code,
            }),
            None => Err(ScannerError::Protocol {
                instruction: Instruction::VfyPwd,
                detail: "empty acknowledgement".into(),
            }),
        }
    }

    // ---- commands -------------------------------------------------------------------------

    pub fn verify_password(&mut self) -> Result<()> {
        self.simple(&Command::VfyPwd {
            password: self.cfg.password,
        })
    }

    pub fn read_sys_para(&mut self) -> Result<SysParams> {
        let r = self.command(&Command::ReadSysPara)?;
        let p = SysParams::from_bytes(&r).ok_or_else(|| ScannerError::Protocol {
            instruction: Instruction::ReadSysPara,
            detail: format!("{} parameter bytes, expected 16", r.len()),
        })?;
        self.params = Some(p);
        Ok(p)
    }

    /// `None` when the module does not know the instruction (it answers with an error).
    pub fn read_prod_info(&mut self) -> Result<Option<ProdInfo>> {
        match self.command(&Command::ReadProdInfo) {
            Ok(r) => Ok(ProdInfo::from_bytes(&r)),
            Err(ScannerError::Module { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One GenImg: `true` when an image was taken, `false` when no finger is on the sensor.
    pub fn gen_img(&mut self) -> Result<bool> {
        match self.command(&Command::GenImg) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(ConfirmationCode::NoFinger) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Polls GenImg until a finger gives an image, the deadline passes, or cancel.
    pub fn wait_finger(&mut self, deadline: Duration) -> Result<()> {
        let end = Instant::now() + deadline;
        loop {
            self.check_cancel()?;
            if self.gen_img()? {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(ScannerError::NoFinger);
            }
            self.sleep(self.cfg.poll_interval)?;
        }
    }

    /// Polls GenImg until it reports no finger (lifted), the deadline passes, or cancel.
    pub fn wait_lift(&mut self, deadline: Duration) -> Result<()> {
        let end = Instant::now() + deadline;
        loop {
            self.check_cancel()?;
            if !self.gen_img()? {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(ScannerError::FingerNotLifted);
            }
            self.sleep(self.cfg.poll_interval)?;
        }
    }

    pub fn img2tz(&mut self, buffer: u8) -> Result<()> {
        self.simple(&Command::Img2Tz { buffer })
    }

    pub fn reg_model(&mut self) -> Result<()> {
        self.simple(&Command::RegModel)
    }

    /// Compares CharBuffer 1 and 2: `Ok((matched, score))`.
    pub fn match_buffers(&mut self) -> Result<(bool, u16)> {
        let (code, r) = self.command_raw(&Command::Match)?;
        let score = u16_at(&r, 0, Instruction::Match)?;
        match code {
            ConfirmationCode::Ok => Ok((true, score)),
            ConfirmationCode::NoMatch => Ok((false, score)),
            code => Err(ScannerError::Module {
                instruction: Instruction::Match,
                code,
            }),
        }
    }

    /// Searches the library: `Some((page, score))` or `None` when nothing matched.
    pub fn search(&mut self, buffer: u8, start: u16, count: u16) -> Result<Option<(u16, u16)>> {
        self.search_with(&Command::Search {
            buffer,
            start,
            count,
        })
    }

    /// HighSpeedSearch: as [`Scanner::search`], for good-quality images.
    pub fn high_speed_search(
        &mut self,
        buffer: u8,
        start: u16,
        count: u16,
    ) -> Result<Option<(u16, u16)>> {
        self.search_with(&Command::HighSpeedSearch {
            buffer,
            start,
            count,
        })
    }

    fn search_with(&mut self, cmd: &Command) -> Result<Option<(u16, u16)>> {
        let (code, r) = self.command_raw(cmd)?;
        match code {
            ConfirmationCode::Ok => Ok(Some((
                u16_at(&r, 0, Instruction::Search)?,
                u16_at(&r, 2, Instruction::Search)?,
            ))),
            ConfirmationCode::NotFound => Ok(None),
            code => Err(ScannerError::Module {
                instruction: Instruction::Search,
                code,
            }),
        }
    }

    pub fn store(&mut self, buffer: u8, page: u16) -> Result<()> {
        self.simple(&Command::Store { buffer, page })
    }

    pub fn load_char(&mut self, buffer: u8, page: u16) -> Result<()> {
        self.simple(&Command::LoadChar { buffer, page })
    }

    pub fn delete_char(&mut self, page: u16, count: u16) -> Result<()> {
        self.simple(&Command::DeleteChar { page, count })
    }

    pub fn empty(&mut self) -> Result<()> {
        self.simple(&Command::Empty)
    }

    pub fn template_count(&mut self) -> Result<u16> {
        let r = self.command(&Command::TemplateNum)?;
        u16_at(&r, 0, Instruction::TemplateNum)
    }

    /// Changes a stored parameter. Packet size and security level act at once; a baud change
    /// acts at the module's next power-up (then [`Scanner::reconnect`] finds the new rate).
    pub fn set_sys_para(&mut self, param: SysParam) -> Result<()> {
        self.simple(&Command::SetSysPara(param))?;
        self.read_sys_para().map(|_| ())
    }

    pub fn set_packet_size(&mut self, size: PacketSize) -> Result<()> {
        self.set_sys_para(SysParam::PacketSize(size))
    }

    /// R503 ring light; modules without it answer with an error code.
    pub fn aura_led(&mut self, control: u8, speed: u8, colour: u8, cycles: u8) -> Result<()> {
        self.simple(&Command::AuraLedConfig {
            control,
            speed,
            colour,
            cycles,
        })
    }

    /// HandShake (R50x): `Ok` when the module is ready for instructions.
    pub fn hand_shake(&mut self) -> Result<()> {
        self.simple(&Command::HandShake)
    }

    pub fn check_sensor(&mut self) -> Result<()> {
        self.simple(&Command::CheckSensor)
    }

    pub fn cancel_instruction(&mut self) -> Result<()> {
        self.simple(&Command::Cancel)
    }

    /// Switches the module's port off (`false`) or on.
    pub fn port_control(&mut self, on: bool) -> Result<()> {
        self.simple(&Command::Control { on: u8::from(on) })
    }

    /// The module's hardware random number.
    pub fn random_code(&mut self) -> Result<u32> {
        let r = self.command(&Command::GetRandomCode)?;
        match r.get(..4) {
            Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            None => Err(ScannerError::Protocol {
                instruction: Instruction::GetRandomCode,
                detail: format!("reply too short ({} bytes)", r.len()),
            }),
        }
    }

    pub fn write_notepad(&mut self, page: u8, data: [u8; NOTEPAD_PAGE_LEN]) -> Result<()> {
        self.simple(&Command::WriteNotepad { page, data })
    }

    pub fn read_notepad(&mut self, page: u8) -> Result<[u8; NOTEPAD_PAGE_LEN]> {
        let r = self.command(&Command::ReadNotepad { page })?;
        r.get(..NOTEPAD_PAGE_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ScannerError::Protocol {
                instruction: Instruction::ReadNotepad,
                detail: format!("{} bytes, expected {NOTEPAD_PAGE_LEN}", r.len()),
            })
    }

    /// The used template slots of index page `page` (slots 256 × page …), in order.
    pub fn read_index_table(&mut self, page: u8) -> Result<Vec<u16>> {
        let r = self.command(&Command::ReadIndexTable { page })?;
        let first = u16::from(page) * 256;
        Ok(r.iter()
            .take(INDEX_PAGE_BYTES)
            .enumerate()
            .flat_map(|(j, &b)| {
                (0..8u16)
                    .filter(move |k| b & (1 << k) != 0)
                    .map(move |k| first + j as u16 * 8 + k)
            })
            .collect())
    }

    /// Sets the module password (kept in flash) and uses it from now on.
    pub fn set_password(&mut self, password: u32) -> Result<()> {
        self.simple(&Command::SetPwd { password })?;
        self.cfg.password = password;
        Ok(())
    }

    /// Sets the module address (kept in flash); its acknowledgement already comes from the
    /// new address.
    pub fn set_address(&mut self, address: u32) -> Result<()> {
        let old = self.cfg.address;
        self.send_packet(PacketId::Command, &Command::SetAdder { address }.payload())?;
        self.cfg.address = address;
        let ack = self.recv_ack(Instruction::SetAdder, self.cfg.command_timeout);
        let code = match ack {
            Ok(a) => a.first().copied().map(ConfirmationCode::from_u8),
            Err(e) => {
                self.cfg.address = old;
                return Err(e);
            }
        };
        match code {
            Some(ConfirmationCode::Ok) => Ok(()),
            other => {
                self.cfg.address = old;
                Err(match other {
                    Some(code) => ScannerError::Module {
                        instruction: Instruction::SetAdder,
                        code,
                    },
                    None => ScannerError::Protocol {
                        instruction: Instruction::SetAdder,
                        detail: "empty acknowledgement".into(),
                    },
                })
            }
        }
    }

    /// SoftRst: the module restarts (RAM buffers lost, stored settings applied), sends its
    /// ready byte, and needs the password again.
    pub fn soft_reset(&mut self) -> Result<()> {
        self.simple(&Command::SoftRst)?;
        self.sleep(Duration::from_millis(60))?;
        self.handshake()
    }

    /// GetImageEx (R50x): like GenImg, but a poor image is refused with 0x07.
    pub fn get_image_ex(&mut self) -> Result<bool> {
        match self.command(&Command::GetImageEx) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(ConfirmationCode::NoFinger) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Turns the image buffer into a binary image (0), thinned (1) or with features (2).
    pub fn gen_bin_image(&mut self, kind: u8) -> Result<()> {
        self.simple(&Command::GenBinImage { kind })
    }

    /// The 512-byte information page.
    pub fn read_inf_page(&mut self) -> Result<Vec<u8>> {
        self.upload(&Command::ReadInfPage)
    }

    pub fn firmware_version(&mut self) -> Result<String> {
        self.text(&Command::GetFwVer)
    }

    pub fn algorithm_version(&mut self) -> Result<String> {
        self.text(&Command::GetAlgVer)
    }

    fn text(&mut self, cmd: &Command) -> Result<String> {
        let r = self.command(cmd)?;
        Ok(String::from_utf8_lossy(&r)
            .trim_end_matches('\0')
            .to_string())
    }

    /// Uploads CharBuffer `buffer` (the template) to the host.
    pub fn up_char(&mut self, buffer: u8) -> Result<Vec<u8>> {
        self.upload(&Command::UpChar { buffer })
    }

    /// Downloads a template into CharBuffer `buffer`.
    pub fn down_char(&mut self, buffer: u8, template: &[u8]) -> Result<()> {
        self.download(&Command::DownChar { buffer }, template)
    }

    /// Uploads the image buffer and widens it to 8-bit gray.
    pub fn up_image(&mut self) -> Result<FingerImage> {
        let data = self.upload(&Command::UpImage)?;
        let (w, h) = self.image_size();
        FingerImage::from_packed(w, h, &data).map_err(|e| ScannerError::Protocol {
            instruction: Instruction::UpImage,
            detail: e.to_string(),
        })
    }

    pub fn down_image(&mut self, image: &FingerImage) -> Result<()> {
        self.download(&Command::DownImage, &image.to_packed())
    }

    // ---- transactions ---------------------------------------------------------------------

    fn simple(&mut self, cmd: &Command) -> Result<()> {
        self.command(cmd).map(|_| ())
    }

    /// Sends a command and returns the ack's parameters after a zero confirmation code.
    fn command(&mut self, cmd: &Command) -> Result<Vec<u8>> {
        let (code, rest) = self.command_raw(cmd)?;
        if code == ConfirmationCode::Ok {
            Ok(rest)
        } else {
            Err(ScannerError::Module {
                instruction: cmd.instruction(),
                code,
            })
        }
    }

    /// Sends a command and returns its confirmation code and parameters, repeating it when
    /// the reply was lost or garbled or the module reports a packet error.
    fn command_raw(&mut self, cmd: &Command) -> Result<(ConfirmationCode, Vec<u8>)> {
        self.with_retries(|s| {
            s.send_packet(PacketId::Command, &cmd.payload())?;
            let ack = s.recv_ack(cmd.instruction(), s.ack_timeout(cmd.instruction()))?;
            let (&code, rest) = ack.split_first().ok_or_else(|| ScannerError::Protocol {
                instruction: cmd.instruction(),
                detail: "empty acknowledgement".into(),
            })?;
            let code = ConfirmationCode::from_u8(code);
            if code == ConfirmationCode::PacketError {
                return Err(ScannerError::Module {
                    instruction: cmd.instruction(),
                    code,
                });
            }
            Ok((code, rest.to_vec()))
        })
    }

    fn with_retries<T>(&mut self, mut f: impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        if self.needs_drain {
            self.drain_until_quiet()?;
            self.needs_drain = false;
        }
        let mut tries = 0;
        loop {
            match f(self) {
                Err(e) if e.is_line_error() && tries < self.cfg.retries => {
                    tries += 1;
                    // Let a half-sent reply finish, then start clean.
                    self.drain_until_quiet()?;
                }
                other => return other,
            }
        }
    }

    /// Command, ack, then data packets until the end packet.
    fn upload(&mut self, cmd: &Command) -> Result<Vec<u8>> {
        let instruction = cmd.instruction();
        self.with_retries(|s| {
            s.send_packet(PacketId::Command, &cmd.payload())?;
            let ack = s.recv_ack(instruction, s.ack_timeout(instruction))?;
            let code = ConfirmationCode::from_u8(*ack.first().unwrap_or(&0x01));
            if code != ConfirmationCode::Ok {
                return Err(ScannerError::Module { instruction, code });
            }
            let packet_time = line_time(s.packet_bytes() + OVERHEAD, s.baud);
            let mut data = Vec::new();
            loop {
                if let Err(e) = s.check_cancel() {
                    s.needs_drain = true;
                    return Err(e);
                }
                let p = s.recv_packet(instruction, s.cfg.command_timeout + packet_time)?;
                match p.id {
                    PacketId::Data => data.extend_from_slice(&p.payload),
                    PacketId::EndData => {
                        data.extend_from_slice(&p.payload);
                        return Ok(data);
                    }
                    other => {
                        return Err(ScannerError::Protocol {
                            instruction,
                            detail: format!("{other} packet inside a data transfer"),
                        })
                    }
                }
            }
        })
    }

    /// Command, ack, then our data packets (the last one an end packet).
    fn download(&mut self, cmd: &Command, data: &[u8]) -> Result<()> {
        // The module waits for all the data once it has acknowledged, so no cancel midway.
        self.simple(cmd)?;
        let size = self.packet_bytes();
        let chunks: Vec<&[u8]> = data.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let id = if i + 1 == chunks.len() {
                PacketId::EndData
            } else {
                PacketId::Data
            };
            self.send_packet(id, chunk)?;
        }
        Ok(())
    }

    // ---- line -----------------------------------------------------------------------------

    /// Command and ack line time, the configured margin and the module's processing time.
    fn ack_timeout(&self, instruction: Instruction) -> Duration {
        line_time(2 * OVERHEAD + 64, self.baud)
            + self.cfg.command_timeout
            + processing_time(instruction)
    }

    fn port_mut(&mut self) -> Result<&mut TTYPort> {
        self.port.as_mut().ok_or_else(|| {
            ScannerError::Disconnected(io::Error::new(io::ErrorKind::NotConnected, "port closed"))
        })
    }

    fn send_packet(&mut self, id: PacketId, payload: &[u8]) -> Result<()> {
        let bytes = Packet::new(self.cfg.address, id, payload.to_vec()).encode()?;
        let port = self.port_mut()?;
        port.write_all(&bytes).map_err(disconnected)?;
        self.stats.bytes_sent += bytes.len() as u64;
        Ok(())
    }

    /// The next acknowledgement. Data packets left from a cancelled transfer are skipped.
    fn recv_ack(&mut self, instruction: Instruction, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let p = self.recv_packet(instruction, left)?;
            match p.id {
                PacketId::Ack => return Ok(p.payload),
                PacketId::Data | PacketId::EndData => continue,
                PacketId::Command => {
                    return Err(ScannerError::Protocol {
                        instruction,
                        detail: "a command packet came from the module".into(),
                    })
                }
            }
        }
    }

    /// The next packet addressed to us, within `timeout`.
    fn recv_packet(&mut self, instruction: Instruction, timeout: Duration) -> Result<Packet> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 512];
        loop {
            while let Some(frame) = self.reader.next_frame() {
                let p = frame?;
                if p.address == self.cfg.address {
                    return Ok(p);
                }
            }
            self.check_cancel()?;
            if Instant::now() >= deadline {
                return Err(ScannerError::Timeout(instruction));
            }
            let port = self.port_mut()?;
            match port.read(&mut buf) {
                Ok(0) => {
                    return Err(ScannerError::Disconnected(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of file on the serial port",
                    )))
                }
                Ok(n) => {
                    self.stats.bytes_received += n as u64;
                    self.reader.push(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(disconnected(e)),
            }
        }
    }

    /// Reads and drops bytes until the line is quiet for 100 ms (at most 15 s, an image).
    fn drain_until_quiet(&mut self) -> Result<()> {
        let quiet = Duration::from_millis(100);
        let end = Instant::now() + Duration::from_secs(15);
        let mut last = Instant::now();
        let mut buf = [0u8; 512];
        while last.elapsed() < quiet && Instant::now() < end {
            self.check_cancel()?;
            let port = self.port_mut()?;
            match port.read(&mut buf) {
                Ok(0) => {
                    return Err(disconnected(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => {
                    self.stats.bytes_received += n as u64;
                    last = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => return Err(disconnected(e)),
            }
        }
        self.reader.clear();
        Ok(())
    }

    fn discard_input(&mut self) -> Result<()> {
        self.reader.clear();
        let port = self.port_mut()?;
        port.clear(ClearBuffer::Input)
            .map_err(|e| ScannerError::Disconnected(e.into()))
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            Err(ScannerError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sleeps in short steps so cancel is seen quickly.
    fn sleep(&self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.check_cancel()?;
            thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
        Ok(())
    }
}

fn disconnected(e: io::Error) -> ScannerError {
    ScannerError::Disconnected(e)
}

fn u16_at(r: &[u8], i: usize, instruction: Instruction) -> Result<u16> {
    match r.get(i..i + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(ScannerError::Protocol {
            instruction,
            detail: format!("reply too short ({} bytes)", r.len()),
        }),
    }
}

/// Time `bytes` take on a UART at `baud` (start bit, 8 data bits, stop bit).
pub fn line_time(bytes: usize, baud: u32) -> Duration {
    Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(baud.max(1)))
}

/// Time a module may take to act on an instruction before it answers: the datasheets give
/// under 1 s to take an image and under 1 s to search the library; flash writes are slower
/// than RAM work.
pub fn processing_time(instruction: Instruction) -> Duration {
    Duration::from_millis(match instruction {
        Instruction::GenImg | Instruction::Search => 1000,
        Instruction::Img2Tz
        | Instruction::RegModel
        | Instruction::Store
        | Instruction::DeleteChar
        | Instruction::Empty
        | Instruction::SetSysPara
        | Instruction::SetPwd
        | Instruction::SetAdder
        | Instruction::WriteNotepad
        | Instruction::GenBinImage => 500,
        Instruction::GetImageEx | Instruction::HighSpeedSearch => 1000,
        _ => 0,
    })
}

impl Drop for Scanner {
    fn drop(&mut self) {
        self.release_port();
    }
}
