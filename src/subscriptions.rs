//! `handler subscriptions`: the Event Grid subscriptions this app needs, derived from the event types
//! it models, as `az` commands, an ARM template or a Bicep module.
//!
//! `infra/subscriptions.bicep` is this module's Bicep output, and README's subscription table lists
//! the same types; tests keep the three in step, so a new modelled type reaches Azure by rerunning
//! `handler subscriptions --format bicep > infra/subscriptions.bicep`.

use std::fmt::{self, Write};
use std::str::FromStr;

use serde_json::{json, Value};

use crate::archive::events::{Family, KNOWN_TYPES};

/// Modelled so that archived and redelivered 2020 events still project, but no longer published by
/// Communication Services: subscribing to them would only widen the filter.
pub const RETIRED_TYPES: &[&str] = &[
    "Microsoft.Communication.ChatMemberAddedToThreadWithUser",
    "Microsoft.Communication.ChatMemberRemovedFromThreadWithUser",
];

/// Event Grid's maxima: an event is retried for a day before it is dead-lettered.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 30;
pub const EVENT_TIME_TO_LIVE_MINUTES: u32 = 1440;

/// The setting naming the dead-letter container, and its default.
pub const DEADLETTER_CONTAINER_SETTING: &str = "ARCHIVE_CONTAINER_DEADLETTER";
pub const DEFAULT_DEADLETTER_CONTAINER: &str = "acs-deadletter";

/// The API version of the Event Grid resources in every format.
pub const EVENT_GRID_API_VERSION: &str = "2022-06-15";

/// One Event Grid subscription: the events of one family, delivered to one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    /// The subscription's name; Event Grid upper-cases it in dead-letter blob names.
    pub name: &'static str,
    /// The function folder, which is also the endpoint's `/functions/{name}`.
    pub function: &'static str,
    pub family: Family,
}

pub const SUBSCRIPTIONS: &[Subscription] = &[
    Subscription {
        name: "acs-sms",
        function: "SmsEvents",
        family: Family::Sms,
    },
    Subscription {
        name: "acs-chat",
        function: "ChatEvents",
        family: Family::Chat,
    },
    Subscription {
        name: "acs-advanced-messaging",
        function: "AdvancedMessagingEvents",
        family: Family::AdvancedMessaging,
    },
];

impl Subscription {
    /// Every published type of the family, in the order of [`KNOWN_TYPES`].
    pub fn included_event_types(&self) -> Vec<&'static str> {
        KNOWN_TYPES
            .iter()
            .filter(|k| k.family == self.family && !RETIRED_TYPES.contains(&k.event_type))
            .map(|k| k.event_type)
            .collect()
    }

    fn bicep_symbol(&self) -> String {
        let mut chars = self.function.chars();
        chars
            .next()
            .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Az,
    Arm,
    Bicep,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Az, Format::Arm, Format::Bicep];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Az => "az",
            Format::Arm => "arm",
            Format::Bicep => "bicep",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}': use one of az, arm, bicep")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The subscriptions in `format`, dead-lettering into `deadletter_container` of the archive account.
pub fn render(format: Format, deadletter_container: &str) -> String {
    match format {
        Format::Az => az(deadletter_container),
        Format::Arm => arm(deadletter_container),
        Format::Bicep => bicep(deadletter_container),
    }
}

const AZ_SITE: &str =
    "/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.Web/sites/<function-app>";
const AZ_ARCHIVE: &str = "/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.Storage/storageAccounts/<archive-account>";

fn az(deadletter_container: &str) -> String {
    let mut out = String::from(
        "# The Event Grid subscriptions of acs-event-archive, one per function: replace the <placeholders>.\n\
         # Run them after the functions are published (Event Grid validates the endpoint). The system topic\n\
         # needs a system-assigned identity with Storage Blob Data Contributor on <archive-account>.\n",
    );
    for s in SUBSCRIPTIONS {
        let types = s.included_event_types().join(" ");
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "az eventgrid system-topic event-subscription create \\\n  \
             --resource-group <resource-group> --system-topic-name <system-topic> --name {name} \\\n  \
             --delivery-identity systemassigned --delivery-identity-endpoint-type azurefunction \\\n  \
             --delivery-identity-endpoint \"{AZ_SITE}/functions/{function}\" \\\n  \
             --event-delivery-schema eventgridschema \\\n  \
             --included-event-types {types} \\\n  \
             --max-delivery-attempts {MAX_DELIVERY_ATTEMPTS} --event-ttl {EVENT_TIME_TO_LIVE_MINUTES} \\\n  \
             --deadletter-identity systemassigned \\\n  \
             --deadletter-identity-endpoint \"{AZ_ARCHIVE}/blobServices/default/containers/{deadletter_container}\"\n",
            name = s.name,
            function = s.function,
        );
    }
    out
}

fn arm(deadletter_container: &str) -> String {
    let resources: Vec<Value> = SUBSCRIPTIONS
        .iter()
        .map(|s| {
            json!({
                "type": "Microsoft.EventGrid/systemTopics/eventSubscriptions",
                "apiVersion": EVENT_GRID_API_VERSION,
                "name": format!("[format('{{0}}/{{1}}', parameters('systemTopicName'), '{}')]", s.name),
                "properties": {
                    "deliveryWithResourceIdentity": {
                        "identity": {"type": "SystemAssigned"},
                        "destination": {
                            "endpointType": "AzureFunction",
                            "properties": {
                                "resourceId": format!(
                                    "[format('{{0}}/functions/{}', resourceId('Microsoft.Web/sites', parameters('functionAppName')))]",
                                    s.function
                                )
                            }
                        }
                    },
                    "eventDeliverySchema": "EventGridSchema",
                    "filter": {"includedEventTypes": s.included_event_types()},
                    "retryPolicy": {
                        "maxDeliveryAttempts": MAX_DELIVERY_ATTEMPTS,
                        "eventTimeToLiveInMinutes": EVENT_TIME_TO_LIVE_MINUTES
                    },
                    "deadLetterWithResourceIdentity": {
                        "identity": {"type": "SystemAssigned"},
                        "deadLetterDestination": {
                            "endpointType": "StorageBlob",
                            "properties": {
                                "resourceId": "[resourceId('Microsoft.Storage/storageAccounts', parameters('archiveAccountName'))]",
                                "blobContainerName": "[parameters('deadLetterContainer')]"
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let parameter = |description: &str| json!({"type": "string", "metadata": {"description": description}});
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "systemTopicName": parameter("the Event Grid system topic on the Communication Services resource"),
            "functionAppName": parameter("the Function App with the published functions"),
            "archiveAccountName": parameter("the archive storage account, which holds the dead-letter container"),
            "deadLetterContainer": {
                "type": "string",
                "defaultValue": deadletter_container,
                "metadata": {"description": "the container Event Grid dead-letters into"}
            }
        },
        "resources": resources
    });
    serde_json::to_string_pretty(&template).expect("a JSON value always serialises") + "\n"
}

fn bicep(deadletter_container: &str) -> String {
    let mut out = format!(
        "// The Event Grid subscriptions of acs-event-archive, one per function. Generated by\n\
         // `handler subscriptions --format bicep` from the event types the handler models: regenerate it,\n\
         // do not edit it. Deploy it only once the functions are published: Event Grid validates the\n\
         // endpoint. The system topic's identity needs Storage Blob Data Contributor on the archive account.\n\
         \n\
         @description('The Event Grid system topic on the Communication Services resource')\n\
         param systemTopicName string\n\
         \n\
         @description('The Function App with the published functions')\n\
         param functionAppName string\n\
         \n\
         @description('The archive storage account, which holds the dead-letter container')\n\
         param archiveAccountName string\n\
         \n\
         @description('The container Event Grid dead-letters into')\n\
         param deadLetterContainer string = '{deadletter_container}'\n\
         \n\
         resource systemTopic 'Microsoft.EventGrid/systemTopics@{EVENT_GRID_API_VERSION}' existing = {{\n  \
           name: systemTopicName\n\
         }}\n\
         \n\
         resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {{\n  \
           name: functionAppName\n\
         }}\n\
         \n\
         resource archive 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {{\n  \
           name: archiveAccountName\n\
         }}\n"
    );
    for s in SUBSCRIPTIONS {
        let types: String = s
            .included_event_types()
            .iter()
            .map(|t| format!("        '{t}'\n"))
            .collect();
        let _ = write!(
            out,
            "\n\
             resource {symbol} 'Microsoft.EventGrid/systemTopics/eventSubscriptions@{EVENT_GRID_API_VERSION}' = {{\n  \
               parent: systemTopic\n  \
               name: '{name}'\n  \
               properties: {{\n    \
                 deliveryWithResourceIdentity: {{\n      \
                   identity: {{ type: 'SystemAssigned' }}\n      \
                   destination: {{\n        \
                     endpointType: 'AzureFunction'\n        \
                     properties: {{ resourceId: '${{functionApp.id}}/functions/{function}' }}\n      \
                   }}\n    \
                 }}\n    \
                 eventDeliverySchema: 'EventGridSchema'\n    \
                 filter: {{\n      \
                   includedEventTypes: [\n{types}      \
                   ]\n    \
                 }}\n    \
                 retryPolicy: {{\n      \
                   maxDeliveryAttempts: {MAX_DELIVERY_ATTEMPTS}\n      \
                   eventTimeToLiveInMinutes: {EVENT_TIME_TO_LIVE_MINUTES}\n    \
                 }}\n    \
                 deadLetterWithResourceIdentity: {{\n      \
                   identity: {{ type: 'SystemAssigned' }}\n      \
                   deadLetterDestination: {{\n        \
                     endpointType: 'StorageBlob'\n        \
                     properties: {{\n          \
                       resourceId: archive.id\n          \
                       blobContainerName: deadLetterContainer\n        \
                     }}\n      \
                   }}\n    \
                 }}\n  \
               }}\n\
             }}\n",
            symbol = s.bicep_symbol(),
            name = s.name,
            function = s.function,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_type_of_each_family_goes_to_its_function_and_nothing_else() {
        let sms = SUBSCRIPTIONS[0].included_event_types();
        assert_eq!(
            sms,
            [
                "Microsoft.Communication.SMSReceived",
                "Microsoft.Communication.SMSDeliveryReportReceived"
            ]
        );
        assert_eq!(SUBSCRIPTIONS[1].included_event_types().len(), 18);
        assert_eq!(SUBSCRIPTIONS[2].included_event_types().len(), 3);
        let subscribed: Vec<&str> = SUBSCRIPTIONS
            .iter()
            .flat_map(|s| s.included_event_types())
            .collect();
        for known in KNOWN_TYPES {
            let retired = RETIRED_TYPES.contains(&known.event_type);
            assert_eq!(
                subscribed.iter().filter(|t| **t == known.event_type).count(),
                usize::from(!retired),
                "{}",
                known.event_type
            );
        }
    }

    #[test]
    fn retired_types_are_modelled_chat_types() {
        for retired in RETIRED_TYPES {
            let known =
                crate::archive::events::known_type(retired).expect("a retired type is still modelled");
            assert_eq!(known.event_type, *retired);
            assert_eq!(known.family, Family::Chat);
        }
    }

    #[test]
    fn formats_parse_by_name_and_an_unknown_one_lists_the_known_ones() {
        for format in Format::ALL {
            assert_eq!(format.as_str().parse::<Format>(), Ok(format));
        }
        assert_eq!("BICEP".parse::<Format>(), Ok(Format::Bicep));
        let e = "xml".parse::<Format>().unwrap_err().to_string();
        assert_eq!(e, "unknown format 'xml': use one of az, arm, bicep");
    }

    #[test]
    fn az_commands_create_each_subscription_with_retries_and_dead_letter_by_identity() {
        let out = render(Format::Az, "dead");
        let commands: Vec<&str> = out
            .split("az eventgrid system-topic event-subscription create")
            .skip(1)
            .collect();
        assert_eq!(commands.len(), SUBSCRIPTIONS.len());
        for (command, s) in commands.iter().zip(SUBSCRIPTIONS) {
            assert!(command.contains(&format!("--name {} ", s.name)), "{command}");
            assert!(
                command.contains(&format!("/functions/{}\"", s.function)),
                "{command}"
            );
            assert!(command.contains(&format!(
                "--included-event-types {} \\",
                s.included_event_types().join(" ")
            )));
            assert!(command.contains("--max-delivery-attempts 30 --event-ttl 1440"));
            assert!(command.contains(
                "--delivery-identity systemassigned --delivery-identity-endpoint-type azurefunction"
            ));
            assert!(command.contains("--deadletter-identity systemassigned"));
            assert!(command.contains("/blobServices/default/containers/dead\""));
        }
        // Every line but the last of a command continues it.
        for command in commands {
            let lines: Vec<&str> = command.trim_end().lines().collect();
            assert!(
                lines[..lines.len() - 1].iter().all(|l| l.ends_with(" \\")),
                "{command}"
            );
        }
    }

    #[test]
    fn arm_template_holds_one_subscription_resource_per_function() {
        let template: Value = serde_json::from_str(&render(Format::Arm, "dead")).unwrap();
        assert_eq!(
            template["parameters"]["deadLetterContainer"]["defaultValue"],
            "dead"
        );
        let resources = template["resources"].as_array().unwrap();
        assert_eq!(resources.len(), SUBSCRIPTIONS.len());
        for (r, s) in resources.iter().zip(SUBSCRIPTIONS) {
            assert_eq!(r["type"], "Microsoft.EventGrid/systemTopics/eventSubscriptions");
            assert!(r["name"].as_str().unwrap().contains(&format!("'{}'", s.name)));
            let p = &r["properties"];
            assert_eq!(p["filter"]["includedEventTypes"], json!(s.included_event_types()));
            assert_eq!(p["retryPolicy"]["maxDeliveryAttempts"], 30);
            assert_eq!(p["retryPolicy"]["eventTimeToLiveInMinutes"], 1440);
            let delivery = &p["deliveryWithResourceIdentity"];
            assert_eq!(delivery["identity"]["type"], "SystemAssigned");
            assert_eq!(delivery["destination"]["endpointType"], "AzureFunction");
            assert!(delivery["destination"]["properties"]["resourceId"]
                .as_str()
                .unwrap()
                .contains(&format!("/functions/{}'", s.function)));
            let dead = &p["deadLetterWithResourceIdentity"];
            assert_eq!(dead["identity"]["type"], "SystemAssigned");
            assert_eq!(dead["deadLetterDestination"]["endpointType"], "StorageBlob");
        }
    }

    #[test]
    fn bicep_module_declares_its_parameters_and_one_subscription_per_function() {
        let out = render(Format::Bicep, "dead");
        for param in [
            "param systemTopicName string",
            "param functionAppName string",
            "param archiveAccountName string",
            "param deadLetterContainer string = 'dead'",
        ] {
            assert!(out.contains(param), "{param}");
        }
        for s in SUBSCRIPTIONS {
            let start = out
                .find(&format!(
                    "resource {} 'Microsoft.EventGrid/systemTopics/eventSubscriptions@",
                    s.bicep_symbol()
                ))
                .unwrap();
            let block = &out[start..];
            let block = &block[..block.find("\n}\n").unwrap()];
            assert!(block.contains(&format!("name: '{}'", s.name)));
            assert!(block.contains(&format!("/functions/{}'", s.function)));
            for t in s.included_event_types() {
                assert!(block.contains(&format!("'{t}'")), "{t}");
            }
            assert!(block.contains("maxDeliveryAttempts: 30"));
            assert!(block.contains("eventTimeToLiveInMinutes: 1440"));
        }
        // Bicep needs balanced braces and brackets to parse at all.
        assert_eq!(out.matches('{').count(), out.matches('}').count());
        assert_eq!(out.matches('[').count(), out.matches(']').count());
    }
}
