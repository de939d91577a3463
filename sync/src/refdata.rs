//! Reference lists embedded in the binary (sources in `sync/data/README.md`).

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::record::EthnicList;

pub struct Province {
    pub code: String,
    pub name: String,
}

pub struct Commune {
    pub code: String,
    pub name: String,
    pub province_code: String,
}

/// A birth-registration province code, the first three digits of an ID number.
pub struct IdPrefix {
    pub code: String,
    pub name_pre_2025: String,
    pub province_2025: String,
}

pub struct CodeName {
    pub code: String,
    pub name: String,
}

pub struct RefData {
    pub provinces: Vec<Province>,
    pub communes: Vec<Commune>,
    pub id_prefixes: Vec<IdPrefix>,
    pub ethnic_1979: Vec<CodeName>,
    pub ethnic_2008: Vec<CodeName>,
    pub religions: Vec<CodeName>,
    commune_index: HashMap<String, usize>,
    province_index: HashMap<String, usize>,
}

static REFDATA: LazyLock<RefData> = LazyLock::new(RefData::parse);

/// The embedded lists, parsed once.
pub fn refdata() -> &'static RefData {
    &REFDATA
}

const ADMIN_UNITS: &str = include_str!("../data/admin_units_2025.csv");
const ID_PREFIXES: &str = include_str!("../data/cccd_province_codes.csv");
const ETHNIC_1979: &str = include_str!("../data/ethnic_qd121_1979.csv");
const ETHNIC_2008: &str = include_str!("../data/ethnic_qd1019_2008_UNVERIFIED_21to54.csv");
const RELIGIONS: &str = include_str!("../data/religion_qd1019_qcvn109.csv");

/// Rows of a header-led CSV without quoting (none of the embedded files quote).
fn rows(csv: &str, columns: usize) -> impl Iterator<Item = Vec<&str>> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(move |line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            // The embedded files are fixed at build time and checked by the tests below.
            assert!(
                fields.len() >= columns,
                "malformed embedded CSV row: {line}"
            );
            fields
        })
}

fn code_names(csv: &str) -> Vec<CodeName> {
    rows(csv, 2)
        .map(|f| CodeName {
            code: f[0].to_owned(),
            name: f[1].to_owned(),
        })
        .collect()
}

impl RefData {
    fn parse() -> Self {
        let mut provinces: Vec<Province> = Vec::new();
        let mut communes = Vec::new();
        for f in rows(ADMIN_UNITS, 6) {
            if provinces.iter().all(|p| p.code != f[0]) {
                provinces.push(Province {
                    code: f[0].to_owned(),
                    name: f[1].to_owned(),
                });
            }
            communes.push(Commune {
                code: f[3].to_owned(),
                name: f[4].to_owned(),
                province_code: f[0].to_owned(),
            });
        }
        let id_prefixes = rows(ID_PREFIXES, 5)
            .map(|f| IdPrefix {
                code: f[0].to_owned(),
                name_pre_2025: f[2].to_owned(),
                province_2025: f[3].to_owned(),
            })
            .collect();
        let commune_index = communes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.code.clone(), i))
            .collect();
        let province_index = provinces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.code.clone(), i))
            .collect();
        RefData {
            provinces,
            communes,
            id_prefixes,
            ethnic_1979: code_names(ETHNIC_1979),
            ethnic_2008: code_names(ETHNIC_2008),
            religions: code_names(RELIGIONS),
            commune_index,
            province_index,
        }
    }

    pub fn province(&self, code: &str) -> Option<&Province> {
        self.province_index.get(code).map(|&i| &self.provinces[i])
    }

    pub fn commune(&self, code: &str) -> Option<&Commune> {
        self.commune_index.get(code).map(|&i| &self.communes[i])
    }

    pub fn communes_of<'a>(&'a self, province_code: &'a str) -> impl Iterator<Item = &'a Commune> {
        self.communes
            .iter()
            .filter(move |c| c.province_code == province_code)
    }

    pub fn id_prefix(&self, code: &str) -> Option<&IdPrefix> {
        self.id_prefixes.iter().find(|p| p.code == code)
    }

    pub fn ethnic_groups(&self, list: EthnicList) -> &[CodeName] {
        match list {
            EthnicList::Qd121_1979 => &self.ethnic_1979,
            EthnicList::Qd1019_2008 => &self.ethnic_2008,
        }
    }

    pub fn religion(&self, code: &str) -> Option<&CodeName> {
        self.religions.iter().find(|r| r.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_their_official_sizes() {
        let r = refdata();
        assert_eq!(r.provinces.len(), 34);
        assert_eq!(r.communes.len(), 3321);
        assert_eq!(r.id_prefixes.len(), 63);
        assert_eq!(r.ethnic_1979.len(), 54);
        assert_eq!(r.ethnic_2008.len(), 54);
        assert!(r.religions.len() >= 14);
    }

    #[test]
    fn every_commune_and_id_prefix_points_at_a_known_province() {
        let r = refdata();
        assert!(r
            .communes
            .iter()
            .all(|c| r.province(&c.province_code).is_some()));
        assert!(r
            .id_prefixes
            .iter()
            .all(|p| r.province(&p.province_2025).is_some()));
        assert_eq!(
            r.commune("00070").map(|c| c.name.as_str()),
            Some("Phường Hoàn Kiếm")
        );
        assert_eq!(
            r.id_prefix("001").map(|p| p.province_2025.as_str()),
            Some("01")
        );
        assert!(r.id_prefix("003").is_none());
    }
}
