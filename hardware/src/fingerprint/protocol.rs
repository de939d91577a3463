//! R30x instructions, their payloads, confirmation codes and parameter blocks.
//! Shared by the driver (host side) and the simulator (module side).

use serde::Serialize;

/// Declares the instruction table once: variant, code, datasheet name.
macro_rules! instructions {
    ($($v:ident = $code:literal, $name:literal;)*) => {
        /// Instruction codes (first payload byte of a command packet): the R30x table
        /// (R307/ZFM/AS608 user manuals) and the R50x additions (R503 manual 1.2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum Instruction { $($v,)* }

        impl Instruction {
            pub const ALL: &'static [Instruction] = &[$(Instruction::$v,)*];

            pub fn code(self) -> u8 {
                match self { $(Instruction::$v => $code,)* }
            }

            /// The datasheet name, as used in scenario files and messages.
            pub fn name(self) -> &'static str {
                match self { $(Instruction::$v => $name,)* }
            }
        }
    };
}

instructions! {
    GenImg = 0x01, "GenImg";
    Img2Tz = 0x02, "Img2Tz";
    Match = 0x03, "Match";
    Search = 0x04, "Search";
    RegModel = 0x05, "RegModel";
    Store = 0x06, "Store";
    LoadChar = 0x07, "LoadChar";
    UpChar = 0x08, "UpChar";
    DownChar = 0x09, "DownChar";
    UpImage = 0x0A, "UpImage";
    DownImage = 0x0B, "DownImage";
    DeleteChar = 0x0C, "DeleteChar";
    Empty = 0x0D, "Empty";
    SetSysPara = 0x0E, "SetSysPara";
    ReadSysPara = 0x0F, "ReadSysPara";
    SetPwd = 0x12, "SetPwd";
    VfyPwd = 0x13, "VfyPwd";
    GetRandomCode = 0x14, "GetRandomCode";
    SetAdder = 0x15, "SetAdder";
    ReadInfPage = 0x16, "ReadInfPage";
    Control = 0x17, "Control";
    WriteNotepad = 0x18, "WriteNotepad";
    ReadNotepad = 0x19, "ReadNotepad";
    HighSpeedSearch = 0x1B, "HighSpeedSearch";
    GenBinImage = 0x1C, "GenBinImage";
    TemplateNum = 0x1D, "TemplateNum";
    ReadIndexTable = 0x1F, "ReadIndexTable";
    GetImageEx = 0x28, "GetImageEx";
    Cancel = 0x30, "Cancel";
    AuraLedConfig = 0x35, "AuraLedConfig";
    CheckSensor = 0x36, "CheckSensor";
    GetAlgVer = 0x39, "GetAlgVer";
    GetFwVer = 0x3A, "GetFwVer";
    ReadProdInfo = 0x3C, "ReadProdInfo";
    SoftRst = 0x3D, "SoftRst";
    HandShake = 0x40, "HandShake";
}

impl Instruction {
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|i| i.code() == code)
    }

    /// By datasheet name; the manuals' own spellings (DeletChar, TempleteNum,
    /// ReadConList, GenChar) are accepted too.
    pub fn from_name(name: &str) -> Option<Self> {
        let alias = match name.to_ascii_lowercase().as_str() {
            "deletchar" => Some(Instruction::DeleteChar),
            "templetenum" | "validtempletenum" => Some(Instruction::TemplateNum),
            "readconlist" => Some(Instruction::ReadIndexTable),
            "genchar" => Some(Instruction::Img2Tz),
            "setaddr" => Some(Instruction::SetAdder),
            _ => None,
        };
        alias.or_else(|| {
            Self::ALL
                .iter()
                .copied()
                .find(|i| i.name().eq_ignore_ascii_case(name))
        })
    }
}

/// Notepad: 16 pages of 32 bytes in flash (WriteNotepad / ReadNotepad).
pub const NOTEPAD_PAGES: u8 = 16;
pub const NOTEPAD_PAGE_LEN: usize = 32;
/// ReadIndexTable: 4 pages of 256 template slots, one bit each.
pub const INDEX_PAGES: u8 = 4;
pub const INDEX_PAGE_BYTES: usize = 32;
/// ReadInfPage: the information page is 512 bytes.
pub const INF_PAGE_LEN: usize = 512;

/// Data packet payload size (SetSysPara parameter 6, ReadSysPara word 6). Serialises as its
/// size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketSize {
    B32,
    B64,
    B128,
    B256,
}

impl PacketSize {
    pub fn code(self) -> u8 {
        match self {
            PacketSize::B32 => 0,
            PacketSize::B64 => 1,
            PacketSize::B128 => 2,
            PacketSize::B256 => 3,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            0 => Some(PacketSize::B32),
            1 => Some(PacketSize::B64),
            2 => Some(PacketSize::B128),
            3 => Some(PacketSize::B256),
            _ => None,
        }
    }

    pub fn bytes(self) -> usize {
        32 << self.code()
    }

    pub fn from_bytes(n: usize) -> Option<Self> {
        [
            PacketSize::B32,
            PacketSize::B64,
            PacketSize::B128,
            PacketSize::B256,
        ]
        .into_iter()
        .find(|p| p.bytes() == n)
    }
}

impl Serialize for PacketSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.bytes() as u16)
    }
}

/// One SetSysPara change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysParam {
    /// Parameter 4: baud = 9600 × N, N in 1..=12. Applies at the next power-up.
    BaudMultiplier(u8),
    /// Parameter 5: matching threshold grade 1 (lenient) ..= 5 (strict).
    SecurityLevel(u8),
    /// Parameter 6: data packet size.
    PacketSize(PacketSize),
}

impl SysParam {
    fn encode(self) -> [u8; 2] {
        match self {
            SysParam::BaudMultiplier(n) => [4, n],
            SysParam::SecurityLevel(l) => [5, l],
            SysParam::PacketSize(p) => [6, p.code()],
        }
    }
}

/// Buffer numbers in the module's RAM (CharBuffer 1 and 2 on every R30x).
pub type CharBuffer = u8;

/// A command with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    VfyPwd {
        password: u32,
    },
    ReadSysPara,
    ReadProdInfo,
    GenImg,
    Img2Tz {
        buffer: CharBuffer,
    },
    RegModel,
    UpChar {
        buffer: CharBuffer,
    },
    DownChar {
        buffer: CharBuffer,
    },
    UpImage,
    DownImage,
    Match,
    Search {
        buffer: CharBuffer,
        start: u16,
        count: u16,
    },
    Store {
        buffer: CharBuffer,
        page: u16,
    },
    LoadChar {
        buffer: CharBuffer,
        page: u16,
    },
    DeleteChar {
        page: u16,
        count: u16,
    },
    Empty,
    TemplateNum,
    SetSysPara(SysParam),
    SetPwd {
        password: u32,
    },
    SetAdder {
        address: u32,
    },
    GetRandomCode,
    ReadInfPage,
    /// Port control: 0 switches the UART/USB port off, 1 on.
    Control {
        on: u8,
    },
    WriteNotepad {
        page: u8,
        data: [u8; NOTEPAD_PAGE_LEN],
    },
    ReadNotepad {
        page: u8,
    },
    HighSpeedSearch {
        buffer: CharBuffer,
        start: u16,
        count: u16,
    },
    /// 0 binary image, 1 thinned binary image, 2 thinned with the feature points marked.
    GenBinImage {
        kind: u8,
    },
    ReadIndexTable {
        page: u8,
    },
    GetImageEx,
    Cancel,
    CheckSensor,
    GetAlgVer,
    GetFwVer,
    SoftRst,
    HandShake,
    /// R503 ring light: control (1 breathe, 2 flash, 3 on, 4 off, 5 fade on, 6 fade off),
    /// speed, colour index (1 red, 2 blue, 3 purple, 4 green, 5 yellow, 6 cyan, 7 white),
    /// cycles (0 = forever).
    AuraLedConfig {
        control: u8,
        speed: u8,
        colour: u8,
        cycles: u8,
    },
}

impl Command {
    pub fn instruction(&self) -> Instruction {
        match self {
            Command::VfyPwd { .. } => Instruction::VfyPwd,
            Command::ReadSysPara => Instruction::ReadSysPara,
            Command::ReadProdInfo => Instruction::ReadProdInfo,
            Command::GenImg => Instruction::GenImg,
            Command::Img2Tz { .. } => Instruction::Img2Tz,
            Command::RegModel => Instruction::RegModel,
            Command::UpChar { .. } => Instruction::UpChar,
            Command::DownChar { .. } => Instruction::DownChar,
            Command::UpImage => Instruction::UpImage,
            Command::DownImage => Instruction::DownImage,
            Command::Match => Instruction::Match,
            Command::Search { .. } => Instruction::Search,
            Command::Store { .. } => Instruction::Store,
            Command::LoadChar { .. } => Instruction::LoadChar,
            Command::DeleteChar { .. } => Instruction::DeleteChar,
            Command::Empty => Instruction::Empty,
            Command::TemplateNum => Instruction::TemplateNum,
            Command::SetSysPara(_) => Instruction::SetSysPara,
            Command::AuraLedConfig { .. } => Instruction::AuraLedConfig,
            Command::SetPwd { .. } => Instruction::SetPwd,
            Command::SetAdder { .. } => Instruction::SetAdder,
            Command::GetRandomCode => Instruction::GetRandomCode,
            Command::ReadInfPage => Instruction::ReadInfPage,
            Command::Control { .. } => Instruction::Control,
            Command::WriteNotepad { .. } => Instruction::WriteNotepad,
            Command::ReadNotepad { .. } => Instruction::ReadNotepad,
            Command::HighSpeedSearch { .. } => Instruction::HighSpeedSearch,
            Command::GenBinImage { .. } => Instruction::GenBinImage,
            Command::ReadIndexTable { .. } => Instruction::ReadIndexTable,
            Command::GetImageEx => Instruction::GetImageEx,
            Command::Cancel => Instruction::Cancel,
            Command::CheckSensor => Instruction::CheckSensor,
            Command::GetAlgVer => Instruction::GetAlgVer,
            Command::GetFwVer => Instruction::GetFwVer,
            Command::SoftRst => Instruction::SoftRst,
            Command::HandShake => Instruction::HandShake,
        }
    }

    /// The command packet's payload: instruction code then parameters.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = vec![self.instruction().code()];
        match *self {
            Command::VfyPwd { password } | Command::SetPwd { password } => {
                p.extend_from_slice(&password.to_be_bytes())
            }
            Command::SetAdder { address } => p.extend_from_slice(&address.to_be_bytes()),
            Command::Control { on } => p.push(on),
            Command::WriteNotepad { page, data } => {
                p.push(page);
                p.extend_from_slice(&data);
            }
            Command::ReadNotepad { page } | Command::ReadIndexTable { page } => p.push(page),
            Command::GenBinImage { kind } => p.push(kind),
            Command::Img2Tz { buffer }
            | Command::UpChar { buffer }
            | Command::DownChar { buffer } => p.push(buffer),
            Command::Search {
                buffer,
                start,
                count,
            }
            | Command::HighSpeedSearch {
                buffer,
                start,
                count,
            } => {
                p.push(buffer);
                p.extend_from_slice(&start.to_be_bytes());
                p.extend_from_slice(&count.to_be_bytes());
            }
            Command::Store { buffer, page } | Command::LoadChar { buffer, page } => {
                p.push(buffer);
                p.extend_from_slice(&page.to_be_bytes());
            }
            Command::DeleteChar { page, count } => {
                p.extend_from_slice(&page.to_be_bytes());
                p.extend_from_slice(&count.to_be_bytes());
            }
            Command::SetSysPara(param) => p.extend_from_slice(&param.encode()),
            Command::AuraLedConfig {
                control,
                speed,
                colour,
                cycles,
            } => p.extend_from_slice(&[control, speed, colour, cycles]),
            Command::ReadSysPara
            | Command::ReadProdInfo
            | Command::GenImg
            | Command::RegModel
            | Command::UpImage
            | Command::DownImage
            | Command::Match
            | Command::Empty
            | Command::TemplateNum
            | Command::GetRandomCode
            | Command::ReadInfPage
            | Command::GetImageEx
            | Command::Cancel
            | Command::CheckSensor
            | Command::GetAlgVer
            | Command::GetFwVer
            | Command::SoftRst
            | Command::HandShake => {}
        }
        p
    }

    /// Parses a command payload (the module's view). `Err` carries the confirmation code a
    /// module answers: 0x01 for a malformed packet, 0x1A for an unknown SetSysPara register.
    pub fn parse(payload: &[u8]) -> Result<Command, ConfirmationCode> {
        let bad = ConfirmationCode::PacketError;
        let (&code, args) = payload.split_first().ok_or(bad)?;
        let instr = Instruction::from_code(code).ok_or(bad)?;
        let u16_at = |i: usize| -> Result<u16, ConfirmationCode> {
            Ok(u16::from_be_bytes([
                *args.get(i).ok_or(bad)?,
                *args.get(i + 1).ok_or(bad)?,
            ]))
        };
        let byte = |i: usize| args.get(i).copied().ok_or(bad);
        let want = |n: usize| if args.len() == n { Ok(()) } else { Err(bad) };
        let u32_arg = || -> Result<u32, ConfirmationCode> {
            want(4)?;
            Ok(u32::from_be_bytes([args[0], args[1], args[2], args[3]]))
        };
        let cmd = match instr {
            Instruction::VfyPwd => Command::VfyPwd {
                password: u32_arg()?,
            },
            Instruction::SetPwd => Command::SetPwd {
                password: u32_arg()?,
            },
            Instruction::SetAdder => Command::SetAdder {
                address: u32_arg()?,
            },
            Instruction::GetRandomCode => Command::GetRandomCode,
            Instruction::ReadInfPage => Command::ReadInfPage,
            Instruction::Control => Command::Control { on: byte(0)? },
            Instruction::WriteNotepad => {
                want(1 + NOTEPAD_PAGE_LEN)?;
                let mut data = [0u8; NOTEPAD_PAGE_LEN];
                data.copy_from_slice(&args[1..]);
                Command::WriteNotepad {
                    page: args[0],
                    data,
                }
            }
            Instruction::ReadNotepad => Command::ReadNotepad { page: byte(0)? },
            Instruction::HighSpeedSearch => Command::HighSpeedSearch {
                buffer: byte(0)?,
                start: u16_at(1)?,
                count: u16_at(3)?,
            },
            Instruction::GenBinImage => Command::GenBinImage { kind: byte(0)? },
            Instruction::ReadIndexTable => Command::ReadIndexTable { page: byte(0)? },
            Instruction::GetImageEx => Command::GetImageEx,
            Instruction::Cancel => Command::Cancel,
            Instruction::CheckSensor => Command::CheckSensor,
            Instruction::GetAlgVer => Command::GetAlgVer,
            Instruction::GetFwVer => Command::GetFwVer,
            Instruction::SoftRst => Command::SoftRst,
            Instruction::HandShake => Command::HandShake,
            Instruction::ReadSysPara => Command::ReadSysPara,
            Instruction::ReadProdInfo => Command::ReadProdInfo,
            Instruction::GenImg => Command::GenImg,
            Instruction::Img2Tz => Command::Img2Tz { buffer: byte(0)? },
            Instruction::RegModel => Command::RegModel,
            Instruction::UpChar => Command::UpChar { buffer: byte(0)? },
            Instruction::DownChar => Command::DownChar { buffer: byte(0)? },
            Instruction::UpImage => Command::UpImage,
            Instruction::DownImage => Command::DownImage,
            Instruction::Match => Command::Match,
            Instruction::Search => Command::Search {
                buffer: byte(0)?,
                start: u16_at(1)?,
                count: u16_at(3)?,
            },
            Instruction::Store => Command::Store {
                buffer: byte(0)?,
                page: u16_at(1)?,
            },
            Instruction::LoadChar => Command::LoadChar {
                buffer: byte(0)?,
                page: u16_at(1)?,
            },
            Instruction::DeleteChar => Command::DeleteChar {
                page: u16_at(0)?,
                count: u16_at(2)?,
            },
            Instruction::Empty => Command::Empty,
            Instruction::TemplateNum => Command::TemplateNum,
            Instruction::SetSysPara => {
                let value = byte(1)?;
                let invalid = ConfirmationCode::InvalidRegister;
                Command::SetSysPara(match byte(0)? {
                    4 if (1..=12).contains(&value) => SysParam::BaudMultiplier(value),
                    5 if (1..=5).contains(&value) => SysParam::SecurityLevel(value),
                    6 => SysParam::PacketSize(
                        PacketSize::from_code(u16::from(value)).ok_or(invalid)?,
                    ),
                    _ => return Err(invalid),
                })
            }
            Instruction::AuraLedConfig => Command::AuraLedConfig {
                control: byte(0)?,
                speed: byte(1)?,
                colour: byte(2)?,
                cycles: byte(3)?,
            },
        };
        Ok(cmd)
    }
}

/// The module's basic parameters (ReadSysPara: 16 bytes after the confirmation code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SysParams {
    /// Status register: bit 0 busy, 1 matched, 2 password verified, 3 image buffer valid.
    pub status: u16,
    pub system_id: u16,
    /// Number of template pages in the flash library.
    pub library_capacity: u16,
    pub security_level: u16,
    pub address: u32,
    pub packet_size: PacketSize,
    /// Stored baud multiplier N (baud = 9600 × N).
    pub baud_multiplier: u16,
}

impl SysParams {
    pub const LEN: usize = 16;

    pub fn baud(&self) -> u32 {
        9600 * u32::from(self.baud_multiplier)
    }

    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..2].copy_from_slice(&self.status.to_be_bytes());
        b[2..4].copy_from_slice(&self.system_id.to_be_bytes());
        b[4..6].copy_from_slice(&self.library_capacity.to_be_bytes());
        b[6..8].copy_from_slice(&self.security_level.to_be_bytes());
        b[8..12].copy_from_slice(&self.address.to_be_bytes());
        b[12..14].copy_from_slice(&u16::from(self.packet_size.code()).to_be_bytes());
        b[14..16].copy_from_slice(&self.baud_multiplier.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < Self::LEN {
            return None;
        }
        let w = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Some(SysParams {
            status: w(0),
            system_id: w(2),
            library_capacity: w(4),
            security_level: w(6),
            address: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            packet_size: PacketSize::from_code(w(12))?,
            baud_multiplier: w(14),
        })
    }
}

/// ReadProdInfo (R503 and newer firmware). The manual's ack length (0x31) leaves 46 bytes
/// of information; its table adds 4 reserved bytes, so both lengths are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProdInfo {
    pub model: String,
    pub batch: String,
    pub serial: String,
    pub hardware_version: (u8, u8),
    pub sensor: String,
    pub image_width: u16,
    pub image_height: u16,
    pub template_size: u16,
    pub library_size: u16,
}

impl ProdInfo {
    pub const LEN: usize = 46;

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::LEN);
        let text = |b: &mut Vec<u8>, s: &str, n: usize| {
            let mut f = s.as_bytes().to_vec();
            f.resize(n, 0);
            b.extend_from_slice(&f);
        };
        text(&mut b, &self.model, 16);
        text(&mut b, &self.batch, 4);
        text(&mut b, &self.serial, 8);
        b.extend_from_slice(&[self.hardware_version.0, self.hardware_version.1]);
        text(&mut b, &self.sensor, 8);
        for v in [
            self.image_width,
            self.image_height,
            self.template_size,
            self.library_size,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < Self::LEN {
            return None;
        }
        let text = |r: std::ops::Range<usize>| {
            String::from_utf8_lossy(&b[r])
                .trim_end_matches('\0')
                .to_string()
        };
        let w = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Some(ProdInfo {
            model: text(0..16),
            batch: text(16..20),
            serial: text(20..28),
            hardware_version: (b[28], b[29]),
            sensor: text(30..38),
            image_width: w(38),
            image_height: w(40),
            template_size: w(42),
            library_size: w(44),
        })
    }
}

/// Confirmation codes (first byte of every ack), with plain messages for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ConfirmationCode {
    Ok,
    PacketError,
    NoFinger,
    CaptureFailed,
    ImageTooMessy,
    TooFewFeatures,
    NoMatch,
    NotFound,
    MergeFailed,
    PageOutOfRange,
    TemplateReadError,
    UploadFeatureFailed,
    CannotReceiveData,
    UploadImageFailed,
    DeleteFailed,
    ClearFailed,
    WrongPassword,
    NoValidImage,
    FlashError,
    InvalidRegister,
    WrongNotepadPage,
    PortControlFailed,
    AddressError,
    PasswordRequired,
    /// Any code the datasheets leave undefined or reserved.
    Other(u8),
}

impl ConfirmationCode {
    pub fn from_u8(b: u8) -> Self {
        use ConfirmationCode::*;
        match b {
            0x00 => Ok,
            0x01 => PacketError,
            0x02 => NoFinger,
            0x03 => CaptureFailed,
            0x06 => ImageTooMessy,
            0x07 => TooFewFeatures,
            0x08 => NoMatch,
            0x09 => NotFound,
            0x0A => MergeFailed,
            0x0B => PageOutOfRange,
            0x0C => TemplateReadError,
            0x0D => UploadFeatureFailed,
            0x0E => CannotReceiveData,
            0x0F => UploadImageFailed,
            0x10 => DeleteFailed,
            0x11 => ClearFailed,
            0x13 => WrongPassword,
            0x15 => NoValidImage,
            0x18 => FlashError,
            0x1A => InvalidRegister,
            0x1C => WrongNotepadPage,
            0x1D => PortControlFailed,
            0x20 => AddressError,
            0x21 => PasswordRequired,
            other => Other(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        use ConfirmationCode::*;
        match self {
            Ok => 0x00,
            PacketError => 0x01,
            NoFinger => 0x02,
            CaptureFailed => 0x03,
            ImageTooMessy => 0x06,
            TooFewFeatures => 0x07,
            NoMatch => 0x08,
            NotFound => 0x09,
            MergeFailed => 0x0A,
            PageOutOfRange => 0x0B,
            TemplateReadError => 0x0C,
            UploadFeatureFailed => 0x0D,
            CannotReceiveData => 0x0E,
            UploadImageFailed => 0x0F,
            DeleteFailed => 0x10,
            ClearFailed => 0x11,
            WrongPassword => 0x13,
            NoValidImage => 0x15,
            FlashError => 0x18,
            InvalidRegister => 0x1A,
            WrongNotepadPage => 0x1C,
            PortControlFailed => 0x1D,
            AddressError => 0x20,
            PasswordRequired => 0x21,
            Other(b) => b,
        }
    }

    pub fn message_en(self) -> String {
        use ConfirmationCode::*;
        match self {
            Ok => "done".into(),
            PacketError => "the scanner did not understand the last packet".into(),
            NoFinger => "no finger on the scanner".into(),
            CaptureFailed => "the scanner could not take the finger image".into(),
            ImageTooMessy => "the finger image is too smudged to read".into(),
            TooFewFeatures => "the finger image shows too little of the finger".into(),
            NoMatch => "the two fingerprints do not match".into(),
            NotFound => "no matching fingerprint in the scanner's library".into(),
            MergeFailed => "the fingerprints could not be combined: different fingers".into(),
            PageOutOfRange => "the template slot number is outside the library".into(),
            TemplateReadError => "a stored template could not be read or is invalid".into(),
            UploadFeatureFailed => "the template could not be sent from the scanner".into(),
            CannotReceiveData => "the scanner could not receive the data that followed".into(),
            UploadImageFailed => "the image could not be sent from the scanner".into(),
            DeleteFailed => "the template could not be deleted".into(),
            ClearFailed => "the scanner's library could not be cleared".into(),
            WrongPassword => "wrong scanner password".into(),
            NoValidImage => "there is no valid image to process; take a new one".into(),
            FlashError => "the scanner's memory could not be written".into(),
            InvalidRegister => "unknown setting number".into(),
            WrongNotepadPage => "no such notepad page in the scanner".into(),
            PortControlFailed => "the scanner could not switch its port".into(),
            AddressError => "wrong scanner address".into(),
            PasswordRequired => "the scanner password must be verified first".into(),
            Other(b) => format!("the scanner reported error code {b:#04x}"),
        }
    }

    pub fn message_vi(self) -> String {
        use ConfirmationCode::*;
        match self {
            Ok => "đã xong".into(),
            PacketError => "máy quét không hiểu gói dữ liệu vừa gửi".into(),
            NoFinger => "chưa có ngón tay trên máy quét".into(),
            CaptureFailed => "máy quét không chụp được ảnh vân tay".into(),
            ImageTooMessy => "ảnh vân tay bị nhòe, không đọc được".into(),
            TooFewFeatures => "ảnh chỉ thấy một phần nhỏ của ngón tay".into(),
            NoMatch => "hai vân tay không khớp nhau".into(),
            NotFound => "không tìm thấy vân tay khớp trong bộ nhớ máy quét".into(),
            MergeFailed => "không ghép được hai vân tay: không cùng một ngón".into(),
            PageOutOfRange => "số ô lưu mẫu nằm ngoài bộ nhớ".into(),
            TemplateReadError => "không đọc được mẫu đã lưu hoặc mẫu bị hỏng".into(),
            UploadFeatureFailed => "máy quét không gửi được mẫu vân tay".into(),
            CannotReceiveData => "máy quét không nhận được dữ liệu gửi tiếp theo".into(),
            UploadImageFailed => "máy quét không gửi được ảnh vân tay".into(),
            DeleteFailed => "không xóa được mẫu vân tay".into(),
            ClearFailed => "không xóa được bộ nhớ máy quét".into(),
            WrongPassword => "sai mật khẩu máy quét".into(),
            NoValidImage => "không có ảnh hợp lệ để xử lý; hãy chụp lại".into(),
            FlashError => "không ghi được vào bộ nhớ máy quét".into(),
            InvalidRegister => "số thiết lập không hợp lệ".into(),
            WrongNotepadPage => "máy quét không có trang ghi chú này".into(),
            PortControlFailed => "máy quét không bật/tắt được cổng giao tiếp".into(),
            AddressError => "sai địa chỉ máy quét".into(),
            PasswordRequired => "cần xác minh mật khẩu máy quét trước".into(),
            Other(b) => format!("máy quét báo mã lỗi {b:#04x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_both_messages() {
        for b in 0..=255u8 {
            let c = ConfirmationCode::from_u8(b);
            assert_eq!(c.to_u8(), b);
            assert!(!c.message_en().is_empty() && !c.message_vi().is_empty());
        }
    }

    #[test]
    fn commands_round_trip_through_payloads() {
        let cmds = [
            Command::VfyPwd {
                password: 0x0102_0304,
            },
            Command::Search {
                buffer: 1,
                start: 0,
                count: 1000,
            },
            Command::Store {
                buffer: 2,
                page: 513,
            },
            Command::LoadChar { buffer: 2, page: 7 },
            Command::DeleteChar { page: 3, count: 2 },
            Command::SetSysPara(SysParam::BaudMultiplier(12)),
            Command::SetSysPara(SysParam::SecurityLevel(5)),
            Command::SetSysPara(SysParam::PacketSize(PacketSize::B256)),
            Command::AuraLedConfig {
                control: 1,
                speed: 0x50,
                colour: 6,
                cycles: 0,
            },
            Command::UpImage,
            Command::SetPwd { password: 7 },
            Command::SetAdder {
                address: 0x1234_5678,
            },
            Command::WriteNotepad {
                page: 15,
                data: [0xA5; NOTEPAD_PAGE_LEN],
            },
            Command::ReadNotepad { page: 3 },
            Command::ReadIndexTable { page: 1 },
            Command::HighSpeedSearch {
                buffer: 2,
                start: 5,
                count: 9,
            },
            Command::GenBinImage { kind: 2 },
            Command::Control { on: 1 },
            Command::HandShake,
        ];
        for c in cmds {
            assert_eq!(Command::parse(&c.payload()), Ok(c));
        }
        assert_eq!(
            Command::parse(&[0x0E, 9, 1]),
            Err(ConfirmationCode::InvalidRegister)
        );
        assert_eq!(Command::parse(&[0x77]), Err(ConfirmationCode::PacketError));
        // A notepad page is exactly 32 bytes.
        assert_eq!(
            Command::parse(&[0x18, 0, 1, 2]),
            Err(ConfirmationCode::PacketError)
        );
    }

    #[test]
    fn the_instruction_table_is_one_to_one() {
        for &i in Instruction::ALL {
            assert_eq!(Instruction::from_code(i.code()), Some(i));
            assert_eq!(Instruction::from_name(i.name()), Some(i));
        }
        let mut codes: Vec<u8> = Instruction::ALL.iter().map(|i| i.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Instruction::ALL.len());
        assert_eq!(
            Instruction::from_name("DeletChar"),
            Some(Instruction::DeleteChar)
        );
    }

    #[test]
    fn sys_params_layout() {
        let p = SysParams {
            status: 0,
            system_id: 0,
            library_capacity: 1000,
            security_level: 3,
            address: 0xFFFF_FFFF,
            packet_size: PacketSize::B128,
            baud_multiplier: 6,
        };
        let b = p.to_bytes();
        assert_eq!(&b[4..6], &[0x03, 0xE8]);
        assert_eq!(&b[12..16], &[0, 2, 0, 6]);
        assert_eq!(SysParams::from_bytes(&b), Some(p));
        assert_eq!(p.baud(), 57600);
    }
}
