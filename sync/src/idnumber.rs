//! The personal ID number `PPP G YY RRRRRR`: birth-registration province, sex-and-century digit,
//! last two digits of the birth year, six random digits. There is no check digit.

use crate::record::Sex;
use crate::refdata::refdata;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber {
    pub province_code: String,
    pub sex: Sex,
    /// The birth year the number encodes (century from G, last two digits from YY).
    pub birth_year: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("an ID number has exactly 12 digits")]
    Format,
    #[error("{0} is not a birth-registration province code")]
    UnknownProvince(String),
}

/// Parses and checks the structure; consistency with the declared sex and year is the caller's.
pub fn parse(s: &str) -> Result<IdNumber, IdNumberError> {
    let b = s.as_bytes();
    if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
        return Err(IdNumberError::Format);
    }
    let province_code = &s[0..3];
    if refdata().id_prefix(province_code).is_none() {
        return Err(IdNumberError::UnknownProvince(province_code.to_owned()));
    }
    let g = i32::from(b[3] - b'0');
    let yy = i32::from(b[4] - b'0') * 10 + i32::from(b[5] - b'0');
    Ok(IdNumber {
        province_code: province_code.to_owned(),
        sex: if g % 2 == 0 { Sex::Male } else { Sex::Female },
        birth_year: 1900 + (g / 2) * 100 + yy,
    })
}

/// The sex-and-century digit for a person born in `year`.
pub fn century_digit(sex: Sex, year: i32) -> Option<u8> {
    let century = (year - 1900).div_euclid(100);
    if !(0..=4).contains(&century) {
        return None;
    }
    let base = u8::try_from(century * 2).ok()?;
    Some(base + if sex == Sex::Female { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_structure() {
        let id = parse("001095012345").expect("valid");
        assert_eq!(id.province_code, "001");
        assert_eq!(id.sex, Sex::Male);
        assert_eq!(id.birth_year, 1995);
        let id = parse("079301000001").expect("valid");
        assert_eq!((id.sex, id.birth_year), (Sex::Female, 2001));
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(parse("00109501234"), Err(IdNumberError::Format));
        assert_eq!(parse("00109501234a"), Err(IdNumberError::Format));
        assert_eq!(parse("00109501234５"), Err(IdNumberError::Format));
        assert_eq!(
            parse("003095012345"),
            Err(IdNumberError::UnknownProvince("003".into()))
        );
    }

    #[test]
    fn century_digit_matches_the_table() {
        assert_eq!(century_digit(Sex::Male, 1950), Some(0));
        assert_eq!(century_digit(Sex::Female, 1999), Some(1));
        assert_eq!(century_digit(Sex::Male, 2000), Some(2));
        assert_eq!(century_digit(Sex::Female, 2101), Some(5));
        assert_eq!(century_digit(Sex::Female, 1899), None);
    }
}
