//! Which figures a run measures: all of them, or those named on the command line (to
//! profile one, or to repeat one after a change to its path).

/// Every figure, in the order a run measures them.
pub const ALL: [&str; 7] = [
    "schedule_now",
    "schedule_many",
    "drain",
    "latency",
    "durable",
    "calls",
    "memory",
];

/// The figures a run measures.
#[derive(Clone, Debug)]
pub struct Figures(Vec<&'static str>);

impl Figures {
    /// `list` is comma-separated names of [`ALL`]; none (or `all`) means every figure.
    pub fn parse(list: Option<&str>) -> Result<Figures, String> {
        let list = match list {
            None | Some("all") => return Ok(Figures(ALL.to_vec())),
            Some(list) => list,
        };
        let mut names = Vec::new();
        for name in list.split(',').map(str::trim) {
            match ALL.iter().find(|known| **known == name) {
                Some(known) => names.push(*known),
                None => {
                    return Err(format!(
                        "unknown figure {name:?}: FIGURES is `all` or a comma-separated list of {}",
                        ALL.join(", ")
                    ))
                }
            }
        }
        Ok(Figures(names))
    }

    /// Only `name`.
    pub fn only(name: &'static str) -> Figures {
        Figures(vec![name])
    }

    pub fn wants(&self, name: &str) -> bool {
        self.0.contains(&name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().copied()
    }
}
