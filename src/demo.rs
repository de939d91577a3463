//! Realistic demo applicants: Vietnamese names with diacritics, real communes, ID numbers
//! consistent with sex and birth year, elderly people with partial dates, children with a
//! representative. Every generated record passes the shared rules without a finding.

use chrono::{DateTime, Datelike, Duration, Utc};
use enroll_sync::idnumber::century_digit;
use enroll_sync::record::*;
use enroll_sync::refdata::refdata;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE_MALE: &[&str] = &[
    "Văn", "Hữu", "Đức", "Minh", "Quốc", "Xuân", "Thanh", "Công", "Đình",
];
const MIDDLE_FEMALE: &[&str] = &[
    "Thị", "Ngọc", "Thu", "Minh", "Thanh", "Kim", "Phương", "Bích",
];
const GIVEN_MALE: &[&str] = &[
    "Hoà", "Hùng", "Dũng", "Nam", "Tuấn", "Long", "Quang", "Sơn", "Bình", "Phúc", "An", "Khoa",
    "Đạt", "Thắng",
];
const GIVEN_FEMALE: &[&str] = &[
    "Lan", "Hoa", "Hương", "Mai", "Linh", "Trang", "Ngọc", "Thảo", "Hạnh", "Yến", "Nhung", "Thuỷ",
    "Ánh",
];
const HAMLETS: &[&str] = &[
    "Thôn Đông",
    "Thôn Trung",
    "Xóm 3",
    "Bản Na Hang",
    "Ấp Tân Lập",
    "Tổ 7",
    "Số 12 ngõ 4",
];

pub struct DemoGenerator {
    rng: StdRng,
    now: DateTime<Utc>,
}

impl DemoGenerator {
    pub fn new(seed: u64, now: DateTime<Utc>) -> Self {
        DemoGenerator {
            rng: StdRng::seed_from_u64(seed),
            now,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        // The lists above are non-empty constants.
        *items.choose(&mut self.rng).unwrap_or(&items[0])
    }

    fn name(&mut self, sex: Sex) -> PersonName {
        let (middle, given) = match sex {
            Sex::Male => (MIDDLE_MALE, GIVEN_MALE),
            Sex::Female => (MIDDLE_FEMALE, GIVEN_FEMALE),
        };
        PersonName {
            family: self.pick(FAMILY).into(),
            middle: self.pick(middle).into(),
            given: self.pick(given).into(),
        }
    }

    fn address_in(&mut self, province: &str) -> Address {
        let communes: Vec<_> = refdata().communes_of(province).collect();
        let commune = communes[self.rng.random_range(0..communes.len())];
        let detail = self.pick(HAMLETS).to_string();
        Address {
            province_code: province.into(),
            commune_code: commune.code.clone(),
            detail,
            list_version: ADMIN_LIST_2025.into(),
        }
    }

    fn id_number(&mut self, prefix: &str, sex: Sex, year: i32) -> Option<String> {
        let g = century_digit(sex, year)?;
        Some(format!(
            "{prefix}{g}{:02}{:06}",
            year.rem_euclid(100),
            self.rng.random_range(0..1_000_000)
        ))
    }

    /// One applicant; the mix is mostly adults, some elderly with partial dates, some children.
    pub fn record(&mut self) -> Enrollment {
        let now = self.now;
        let sex = if self.rng.random_bool(0.5) {
            Sex::Male
        } else {
            Sex::Female
        };
        let roll: f64 = self.rng.random();
        let (age, birth_date) = if roll < 0.15 {
            // Elderly: often only the year (estimated) or month and year (declared) is known.
            let age = self.rng.random_range(72..96);
            let year = now.year() - age - 1;
            let d = if self.rng.random_bool(0.5) {
                PartialDate {
                    year,
                    month: None,
                    day: None,
                    provenance: DateProvenance::Estimated,
                }
            } else {
                PartialDate {
                    year,
                    month: Some(self.rng.random_range(1..=12)),
                    day: None,
                    provenance: DateProvenance::Declared,
                }
            };
            (age, d)
        } else {
            let age = if roll < 0.25 {
                self.rng.random_range(6..14)
            } else {
                self.rng.random_range(18..70)
            };
            let born = now.date_naive()
                - Duration::days(i64::from(age) * 365 + self.rng.random_range(10..300));
            let d = PartialDate {
                year: born.year(),
                month: Some(born.month() as u8),
                day: Some(born.day() as u8),
                provenance: DateProvenance::Documented,
            };
            (age, d)
        };
        let data = refdata();
        let prefix = &data.id_prefixes[self.rng.random_range(0..data.id_prefixes.len())];
        let birth_province = prefix.province_2025.clone();
        let home_province = data.provinces[self.rng.random_range(0..data.provinces.len())]
            .code
            .clone();
        let birth_place = self.address_in(&birth_province);
        let residence = self.address_in(&home_province);
        let kind = match self.rng.random_range(0..10) {
            0..=4 => ApplicationKind::NewCard,
            5 | 6 => ApplicationKind::Exchange,
            7 => ApplicationKind::Reissue,
            _ => ApplicationKind::EidLevel2,
        };
        let (exchange_reason, reason) = match kind {
            ApplicationKind::Exchange => (
                Some(self.pick(&[ExchangeReason::Damaged, ExchangeReason::DetailsChanged])),
                None,
            ),
            ApplicationKind::Reissue => (None, Some("Mất thẻ căn cước".to_owned())),
            _ => (None, None),
        };
        let name = self.name(sex);
        let father = Relative {
            name: format!("{} {}", name.family, self.pick(GIVEN_MALE)),
            id_number: None,
            nationality: Some("VN".into()),
        };
        let mother_name = self.name(Sex::Female);
        let mother = Relative {
            name: mother_name.full(),
            id_number: None,
            nationality: Some("VN".into()),
        };
        let representative = (age < 14).then(|| father.clone());
        let phone = (kind == ApplicationKind::EidLevel2 || self.rng.random_bool(0.6))
            .then(|| format!("09{:08}", self.rng.random_range(0..100_000_000)));
        let kinh = self.rng.random_bool(0.8);
        let ethnic = if kinh {
            "01".to_owned()
        } else {
            data.ethnic_1979[self.rng.random_range(1..data.ethnic_1979.len())]
                .code
                .clone()
        };
        let religion = if self.rng.random_bool(0.8) {
            "none".to_owned()
        } else {
            data.religions[self.rng.random_range(0..data.religions.len())]
                .code
                .clone()
        };
        Enrollment {
            id: new_record_id(),
            enrollment_no: String::new(),
            application: Application {
                kind,
                exchange_reason,
                reason,
            },
            applicant: Applicant {
                id_number: self.id_number(&prefix.code, sex, birth_date.year),
                old_id_number: (age >= 30 && self.rng.random_bool(0.5))
                    .then(|| format!("{:09}", self.rng.random_range(0..1_000_000_000))),
                name,
                other_name: None,
                birth_date,
                sex,
                nationality: "VN".into(),
                ethnicity: Some(Ethnicity {
                    code: ethnic,
                    list: EthnicList::Qd121_1979,
                }),
                religion: Some(religion),
                birth_place: Some(birth_place.clone()),
                birth_registration_place: Some(Address {
                    detail: String::new(),
                    ..birth_place.clone()
                }),
                home_town: Some(Address {
                    detail: String::new(),
                    ..birth_place
                }),
                permanent_residence: Some(residence.clone()),
                temporary_residence: None,
                current_residence: Some(residence),
                marital_status: Some(if age < 20 {
                    MaritalStatus::Single
                } else {
                    self.pick(&[
                        MaritalStatus::Married,
                        MaritalStatus::Single,
                        MaritalStatus::Widowed,
                    ])
                }),
                blood_type: None,
            },
            relatives: Relatives {
                father: Some(father),
                mother: Some(mother),
                spouse: None,
                representative,
                household_head: None,
            },
            contact: Contact { phone, email: None },
            biometrics: Biometrics::default(),
            capture: CaptureMeta::default(),
            review: Review::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_records_pass_every_rule_and_cover_the_mix() {
        let now = Utc::now();
        let mut g = DemoGenerator::new(42, now);
        let records: Vec<Enrollment> = (0..2000).map(|_| g.record()).collect();
        for r in &records {
            let findings = enroll_sync::validate::validate(r, now);
            assert!(findings.is_empty(), "{:?}: {findings:#?}", r.applicant.name);
        }
        let partial = records
            .iter()
            .filter(|r| r.applicant.birth_date.day.is_none())
            .count();
        let children = records
            .iter()
            .filter(|r| r.relatives.representative.is_some())
            .count();
        let eid = records
            .iter()
            .filter(|r| r.application.kind == ApplicationKind::EidLevel2)
            .count();
        assert!(
            partial > 100 && children > 100 && eid > 100,
            "{partial} {children} {eid}"
        );
        assert!(records
            .iter()
            .any(|r| r.applicant.name.full().contains('Đ')));
    }
}
