//! The app's functions: name → trigger kind. The host layer reads `Data` and shapes its answer by
//! the trigger kind found here, so a new function is one entry here and one folder beside host.json.
//!
//! A test checks every `*/function.json` against this table, so the two cannot drift.

use crate::archive::events::Family;

/// What fires a function, and so what its invocations carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An `eventGridTrigger` binding named `event`: events, archived by their own type. `family` is
    /// what the function's Event Grid subscription carries.
    EventGrid { family: Family },
    /// A `timerTrigger` binding named `timer` on an NCRONTAB `schedule`, running `job`.
    Timer { schedule: &'static str, job: Job },
}

/// The jobs timer functions run. Each job is one variant and one module; [`super::timer`] dispatches
/// on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Archive what Event Grid dead-lettered ([`crate::deadletter`]).
    RecoverDeadLetters,
    /// Compact the closed hours of the lookback whose records changed into Parquet
    /// ([`crate::analytics`]).
    CompactArchive,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    pub trigger: Trigger,
}

impl Function {
    /// The name of the trigger binding in `function.json`, i.e. the key under `Data`.
    pub fn binding(&self) -> &'static str {
        match self.trigger {
            Trigger::EventGrid { .. } => EVENT_BINDING,
            Trigger::Timer { .. } => TIMER_BINDING,
        }
    }

    /// The `type` of the trigger binding in `function.json`.
    pub fn binding_type(&self) -> &'static str {
        match self.trigger {
            Trigger::EventGrid { .. } => "eventGridTrigger",
            Trigger::Timer { .. } => "timerTrigger",
        }
    }
}

pub const EVENT_BINDING: &str = "event";
pub const TIMER_BINDING: &str = "timer";

pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "SmsEvents",
        trigger: Trigger::EventGrid { family: Family::Sms },
    },
    Function {
        name: "ChatEvents",
        trigger: Trigger::EventGrid { family: Family::Chat },
    },
    Function {
        name: "AdvancedMessagingEvents",
        trigger: Trigger::EventGrid {
            family: Family::AdvancedMessaging,
        },
    },
    Function {
        name: "RecoverDeadLetters",
        trigger: Trigger::Timer {
            schedule: "0 */10 * * * *",
            job: Job::RecoverDeadLetters,
        },
    },
    Function {
        name: "CompactArchive",
        trigger: Trigger::Timer {
            schedule: "0 5 * * * *",
            job: Job::CompactArchive,
        },
    },
];

/// The function of that name. Exact match: the host calls `/{FunctionName}` with the folder's name.
pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The Event Grid function whose subscription carries events of `family`; events of other families
/// (unmodelled types) go to the first one, which archives them all the same.
pub fn event_grid_function_for(family: Family) -> &'static str {
    let event_grid = || {
        FUNCTIONS
            .iter()
            .filter(|f| matches!(f.trigger, Trigger::EventGrid { .. }))
    };
    event_grid()
        .find(|f| f.trigger == Trigger::EventGrid { family })
        .or_else(|| event_grid().next())
        .map(|f| f.name)
        .expect("the registry has Event Grid functions")
}

/// The Event Grid function whose subscription carries this event (by its `eventType` or `type`).
pub fn event_grid_function_for_event(event: &serde_json::Value) -> &'static str {
    let event_type = event
        .get("eventType")
        .or_else(|| event.get("type"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let family = crate::archive::events::known_type(event_type).map_or(Family::Other, |k| k.family);
    event_grid_function_for(family)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;
    use std::path::Path;

    #[test]
    fn every_function_folder_matches_the_registry() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut folders = BTreeSet::new();
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path().join("function.json");
            if !path.exists() {
                continue;
            }
            let name = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let function =
                find(&name).unwrap_or_else(|| panic!("{name}/function.json is not in the registry"));
            let bindings = json["bindings"].as_array().unwrap();
            let trigger: Vec<_> = bindings.iter().filter(|b| b["direction"] == "in").collect();
            assert_eq!(trigger.len(), 1, "{name}: one trigger binding");
            assert_eq!(trigger[0]["type"], function.binding_type(), "{name}");
            assert_eq!(trigger[0]["name"], function.binding(), "{name}");
            if let Trigger::Timer { schedule, .. } = function.trigger {
                assert_eq!(trigger[0]["schedule"], schedule, "{name}");
            }
            folders.insert(name);
        }
        let registered: BTreeSet<_> = FUNCTIONS.iter().map(|f| f.name.to_owned()).collect();
        assert_eq!(folders, registered, "function folders and registry differ");
    }

    #[test]
    fn each_family_with_events_has_its_event_grid_function() {
        assert_eq!(event_grid_function_for(Family::Sms), "SmsEvents");
        assert_eq!(event_grid_function_for(Family::Chat), "ChatEvents");
        assert_eq!(
            event_grid_function_for(Family::AdvancedMessaging),
            "AdvancedMessagingEvents"
        );
        assert_eq!(event_grid_function_for(Family::Other), "SmsEvents");
    }

    #[test]
    fn function_names_are_matched_exactly_as_the_host_sends_them() {
        assert!(find("SmsEvents").is_some());
        assert!(find("smsevents").is_none());
    }
}
