//! The deployment description agrees with the code: README's subscription table, the Bicep files and
//! the function folders list exactly what `handler subscriptions` derives from the modelled event
//! types, and the Bicep declares what a deployment needs. No Bicep compiler runs here, so this parses
//! the files as text; README's "What was validated here" says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use acs_event_archive::subscriptions::{self, Format, SUBSCRIPTIONS};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Function name → its subscribed event types, from the code.
fn expected() -> BTreeMap<String, BTreeSet<String>> {
    SUBSCRIPTIONS
        .iter()
        .map(|s| {
            let types = s.included_event_types().into_iter().map(String::from).collect();
            (s.function.to_owned(), types)
        })
        .collect()
}

/// The `Microsoft.Communication.*` names quoted in `text`, with the given quote character.
fn event_types(text: &str, quote: char) -> BTreeSet<String> {
    let prefix = format!("{quote}Microsoft.Communication.");
    text.match_indices(&prefix)
        .map(|(at, _)| {
            let rest = &text[at + 1..];
            rest[..rest.find(quote).expect("a quoted name is closed")].to_owned()
        })
        .collect()
}

/// Top-level declarations (`resource`, `module`, ...) of a Bicep file: each from its first line to
/// the closing brace or bracket at column 0. Comment lines are left out.
fn bicep_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        match current.as_mut() {
            Some(block) => {
                block.push_str(line);
                block.push('\n');
                if line == "}" || line == "]" {
                    blocks.push(current.take().unwrap());
                }
            }
            None if line.starts_with("resource ") || line.starts_with("module ") => {
                if line.ends_with('{') || line.ends_with('[') || line.ends_with("= [") {
                    current = Some(format!("{line}\n"));
                } else {
                    blocks.push(line.to_owned());
                }
            }
            None => {}
        }
    }
    assert!(current.is_none(), "a Bicep block is not closed");
    blocks
}

/// The resource type of a `resource name 'Type@version' ...` block.
fn resource_type(block: &str) -> Option<&str> {
    let rest = block.strip_prefix("resource ")?;
    let quoted = &rest[rest.find('\'')? + 1..];
    Some(&quoted[..quoted.find('@')?])
}

fn bicep_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo().join("infra"))
        .expect("infra/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bicep"))
        .collect();
    files.sort();
    files
}

/// Function name → event types of every Event Grid subscription in every Bicep file.
fn bicep_subscriptions() -> BTreeMap<String, BTreeSet<String>> {
    let mut found = BTreeMap::new();
    for file in bicep_files() {
        let text = fs::read_to_string(&file).unwrap();
        for block in bicep_blocks(&text) {
            if resource_type(&block) != Some("Microsoft.EventGrid/systemTopics/eventSubscriptions") {
                continue;
            }
            let at = block
                .find("/functions/")
                .expect("a subscription names its function");
            let function: String = block[at + "/functions/".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let previous = found.insert(function.clone(), event_types(&block, '\''));
            assert!(previous.is_none(), "{function} has two subscriptions");
        }
    }
    found
}

/// Rows of the `| function | subscription | includedEventTypes |` table in README's Deploy section.
fn readme_table() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let readme = read("README.md");
    let start = readme
        .find("\n## Deploy to Azure\n")
        .expect("README has a Deploy to Azure section");
    let section = &readme[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)];
    let header = "| function | subscription | `includedEventTypes` |";
    let table = &section[section
        .find(header)
        .expect("the subscription table is in the section")..];
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 5, "{row}");
            (
                cells[1].trim_matches('`').to_owned(),
                (cells[2].trim_matches('`').to_owned(), event_types(cells[3], '`')),
            )
        })
        .collect()
}

#[test]
fn readme_subscription_table_lists_exactly_the_subscriptions_of_the_code() {
    let table = readme_table();
    let expected: BTreeMap<String, (String, BTreeSet<String>)> = SUBSCRIPTIONS
        .iter()
        .map(|s| {
            (
                s.function.to_owned(),
                (s.name.to_owned(), expected()[s.function].clone()),
            )
        })
        .collect();
    assert_eq!(table, expected);
}

#[test]
fn infra_subscriptions_module_is_what_handler_subscriptions_renders() {
    let rendered = subscriptions::render(Format::Bicep, subscriptions::DEFAULT_DEADLETTER_CONTAINER);
    assert!(
        read("infra/subscriptions.bicep") == rendered,
        "infra/subscriptions.bicep is stale: regenerate it with `handler subscriptions --format bicep > infra/subscriptions.bicep`"
    );
}

#[test]
fn bicep_subscriptions_deliver_exactly_each_family_to_its_function() {
    assert_eq!(bicep_subscriptions(), expected());
}

#[test]
fn retired_event_types_appear_in_no_subscription() {
    let everywhere: Vec<BTreeSet<String>> = bicep_subscriptions()
        .into_values()
        .chain(readme_table().into_values().map(|(_, types)| types))
        .collect();
    for retired in subscriptions::RETIRED_TYPES {
        assert!(
            everywhere.iter().all(|types| !types.contains(*retired)),
            "{retired}"
        );
    }
}

#[test]
fn event_grid_function_folders_are_exactly_the_subscribed_functions() {
    let mut folders = BTreeSet::new();
    for entry in fs::read_dir(repo()).unwrap() {
        let path = entry.unwrap().path().join("function.json");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let function: serde_json::Value = serde_json::from_str(&text).unwrap();
        let bindings = function["bindings"]
            .as_array()
            .expect("function.json has bindings");
        let triggers: Vec<_> = bindings.iter().filter(|b| b["direction"] == "in").collect();
        if triggers.iter().any(|b| b["type"] == "eventGridTrigger") {
            // The handler reads the event from `Data.event`.
            assert_eq!(triggers.len(), 1, "{}", path.display());
            assert_eq!(triggers[0]["name"], "event", "{}", path.display());
            let name = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            folders.insert(name);
        }
    }
    let subscribed: BTreeSet<String> = expected().into_keys().collect();
    assert_eq!(folders, subscribed);
}

/// Resource types a deployment needs; README's "What was validated here" names the same.
const REQUIRED_RESOURCE_TYPES: &[&str] = &[
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Storage/storageAccounts/blobServices/containers",
    "Microsoft.Web/serverfarms",
    "Microsoft.Web/sites",
    "Microsoft.Insights/components",
    "Microsoft.OperationalInsights/workspaces",
    "Microsoft.EventGrid/systemTopics",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    "Microsoft.Authorization/roleAssignments",
];

const STORAGE_BLOB_DATA_OWNER: &str = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
const STORAGE_BLOB_DATA_CONTRIBUTOR: &str = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";

/// `param name type [= default]` lines, with the decorators just above each.
fn bicep_params(text: &str) -> BTreeMap<String, (String, Option<String>, Vec<String>)> {
    let mut params = BTreeMap::new();
    let mut decorators = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with('@') {
            let mut decorator = line.to_owned();
            // A multi-line @allowed([...]).
            while decorator.ends_with('[') || (decorator.contains("([") && !decorator.contains("])")) {
                i += 1;
                decorator.push_str(lines[i].trim());
                decorator.push(' ');
            }
            decorators.push(decorator);
        } else if let Some(rest) = line.strip_prefix("param ") {
            let (declaration, default) = match rest.split_once(" = ") {
                Some((d, v)) => (d, Some(v.to_owned())),
                None => (rest, None),
            };
            let (name, kind) = declaration.split_once(' ').expect("a param has a type");
            params.insert(
                name.to_owned(),
                (kind.to_owned(), default, std::mem::take(&mut decorators)),
            );
        } else if !line.trim().is_empty() {
            decorators.clear();
        }
        i += 1;
    }
    params
}

#[test]
fn main_bicep_declares_every_resource_a_deployment_needs() {
    let mut declared = BTreeSet::new();
    for file in bicep_files() {
        for block in bicep_blocks(&fs::read_to_string(&file).unwrap()) {
            if let Some(t) = resource_type(&block) {
                declared.insert(t.to_owned());
            }
        }
    }
    for required in REQUIRED_RESOURCE_TYPES {
        assert!(declared.contains(*required), "no {required} in infra/*.bicep");
    }

    let main = read("infra/main.bicep");
    let blocks = bicep_blocks(&main);
    let block = |symbol: &str| {
        blocks
            .iter()
            .find(|b| {
                b.starts_with(&format!("resource {symbol} ")) || b.starts_with(&format!("module {symbol} "))
            })
            .unwrap_or_else(|| panic!("infra/main.bicep declares no {symbol}"))
    };
    // The system topic of Communication Services lives in `global`, on the resource given.
    let topic = block("systemTopic");
    assert!(topic.contains("location: 'global'"), "{topic}");
    assert!(
        topic.contains("topicType: 'Microsoft.Communication.CommunicationServices'"),
        "{topic}"
    );
    assert!(
        topic.contains("source: communicationServicesIdChecked"),
        "{topic}"
    );
    assert!(topic.contains("identity: { type: 'SystemAssigned' }"), "{topic}");
    // A Linux Function App with the custom runtime, its own identity, and Flex's deployment container.
    let app = block("app");
    assert!(
        app.contains("kind: 'functionapp,linux'") && app.contains("identity: { type: 'SystemAssigned' }")
    );
    assert!(main.contains("runtime: { name: 'custom', version: '1.0' }"));
    assert!(
        main.contains("type: 'blobContainer'")
            && main.contains("authentication: { type: 'SystemAssignedIdentity' }")
    );
    assert!(
        main.contains("name: 'FC1', tier: 'FlexConsumption'")
            && main.contains("name: 'EP1', tier: 'ElasticPremium'")
    );
    // The handler's settings: the archive by identity, the host's storage by identity.
    for setting in [
        "ARCHIVE_STORAGE__blobServiceUri",
        "AzureWebJobsStorage__accountName",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    ] {
        assert!(main.contains(&format!("name: '{setting}'")), "{setting}");
    }
    // Owner for the app on the archive (index tags), Contributor for the topic (dead letters).
    let owner = block("appOwnsArchive");
    assert!(owner.contains("scope: archive") && owner.contains("app.identity.principalId"));
    assert!(main.contains(&format!("var storageBlobDataOwner = '{STORAGE_BLOB_DATA_OWNER}'")));
    assert!(owner.contains("storageBlobDataOwner"));
    let dead = block("topicDeadLetters");
    assert!(dead.contains("scope: archive") && dead.contains("systemTopic.identity.principalId"));
    assert!(main.contains(&format!(
        "var storageBlobDataContributor = '{STORAGE_BLOB_DATA_CONTRIBUTOR}'"
    )));
    assert!(dead.contains("storageBlobDataContributor"));
    // Every container the handler and the jobs write to.
    for container in [
        "acs-sms",
        "acs-chat",
        "acs-advanced-messaging",
        "acs-other",
        "acs-quarantine",
        "acs-analytics",
    ] {
        assert!(main.contains(&format!("  '{container}'\n")), "{container}");
    }
    assert!(main.contains("  deadLetterContainer\n"));
    // The subscriptions only once the functions exist, from the generated module.
    let module = block("subscriptions");
    assert!(
        module.starts_with("module subscriptions 'subscriptions.bicep' = if (deploySubscriptions) {"),
        "{module}"
    );
    let module_params = bicep_params(&read("infra/subscriptions.bicep"));
    for (name, (_, default, _)) in &module_params {
        if default.is_none() {
            assert!(
                module.contains(&format!("    {name}: ")),
                "the module is not given {name}"
            );
        }
    }
}

#[test]
fn main_bicep_refuses_parameters_it_cannot_use() {
    let main = read("infra/main.bicep");
    let params = bicep_params(&main);
    let param = |name: &str| params.get(name).unwrap_or_else(|| panic!("no param {name}"));

    let (kind, default, decorators) = param("planSku");
    assert_eq!((kind.as_str(), default.as_deref()), ("string", Some("'FC1'")));
    assert!(
        decorators
            .iter()
            .any(|d| d.starts_with("@allowed([") && d.contains("'FC1'") && d.contains("'EP1'")),
        "{decorators:?}"
    );

    let (kind, default, _) = param("deploySubscriptions");
    assert_eq!((kind.as_str(), default.as_deref()), ("bool", Some("false")));

    let (kind, default, _) = param("communicationServicesId");
    assert_eq!((kind.as_str(), default.as_deref()), ("string", None));
    let check = main
        .lines()
        .find(|l| l.starts_with("var isCommunicationServicesId = "))
        .expect("the Communication Services id is checked");
    assert!(
        check.contains("'/providers/Microsoft.Communication/communicationServices/'"),
        "{check}"
    );
    assert!(main.contains(
        "var communicationServicesIdChecked = isCommunicationServicesId ? communicationServicesId : fail('"
    ));

    for name in [
        "appName",
        "archiveAccountName",
        "hostAccountName",
        "systemTopicName",
        "deadLetterContainer",
    ] {
        let (_, _, decorators) = param(name);
        assert!(decorators.iter().any(|d| d.starts_with("@minLength(")), "{name}");
        assert!(decorators.iter().any(|d| d.starts_with("@maxLength(")), "{name}");
    }
    let (_, _, decorators) = param("archiveAccountName");
    assert!(
        decorators.contains(&"@maxLength(24)".to_owned()),
        "storage account names have at most 24 characters"
    );
}

#[test]
fn example_parameters_name_only_parameters_of_main_bicep_and_every_required_one() {
    let params = bicep_params(&read("infra/main.bicep"));
    let example: serde_json::Value =
        serde_json::from_str(&read("infra/main.parameters.example.json")).unwrap();
    let given = example["parameters"].as_object().expect("a parameters file");
    for name in given.keys() {
        assert!(
            params.contains_key(name),
            "{name} is no param of infra/main.bicep"
        );
    }
    for (name, (_, default, _)) in &params {
        if default.is_none() {
            assert!(
                given.contains_key(name),
                "the example leaves out the required {name}"
            );
        }
    }
    assert_eq!(
        given["deploySubscriptions"]["value"], false,
        "the first deployment has no subscriptions"
    );
}

#[test]
fn readme_says_what_was_checked_offline_and_what_to_run_first() {
    let readme = read("README.md");
    let validated = &readme[readme
        .find("**What was validated here")
        .expect("README says what was validated")..];
    let validated = &validated[..validated.find("\n\n").unwrap_or(validated.len())];
    let named: BTreeSet<&str> = validated
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with("Microsoft.") && code.contains('/'))
        .collect();
    assert_eq!(
        named,
        REQUIRED_RESOURCE_TYPES.iter().copied().collect::<BTreeSet<_>>()
    );
    assert!(validated.contains("never compiled or deployed here"));
    assert!(validated.contains("`cargo test --test deploy`"));
    assert!(validated.contains("`az bicep build --file infra/main.bicep`"));
    assert!(validated.contains("`az deployment group what-if"));
    assert!(readme.contains("deploySubscriptions=false") && readme.contains("deploySubscriptions=true"));
}
