//! The Bicep under infra/, checked without the Bicep compiler (none runs on these machines): every
//! file parses with tree-sitter-bicep, and the properties in infra-validation.md §5 hold — no
//! public network access, TLS 1.2, local auth off, identity-based settings only, a private
//! endpoint with the right group id and DNS zone for every data-plane service, the audit
//! container's immutability policy, no secrets in outputs. checkov runs in `checkov_is_clean`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tree_sitter::{Node, Parser};

struct File {
    path: PathBuf,
    text: String,
    tree: tree_sitter::Tree,
}

impl File {
    fn node_text(&self, n: Node<'_>) -> &str {
        &self.text[n.byte_range()]
    }
}

fn bicep_files() -> Vec<File> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra");
    let mut paths = vec![dir.join("main.bicep")];
    let mut modules: Vec<PathBuf> = std::fs::read_dir(dir.join("modules")).unwrap().map(|e| e.unwrap().path()).collect();
    modules.sort();
    paths.extend(modules.into_iter().filter(|p| p.extension().is_some_and(|x| x == "bicep")));
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_bicep::LANGUAGE.into()).unwrap();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let tree = parser.parse(&text, None).unwrap();
            File { path, text, tree }
        })
        .collect()
}

/// Every node of a kind, depth first.
fn nodes<'t>(n: Node<'t>, kind: &str, out: &mut Vec<Node<'t>>) {
    if n.kind() == kind {
        out.push(n);
    }
    let mut c = n.walk();
    for child in n.children(&mut c) {
        nodes(child, kind, out);
    }
}

/// Resources by type (without the API version): (file name, declaration text).
fn resources(files: &[File]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for f in files {
        let mut decls = Vec::new();
        nodes(f.tree.root_node(), "resource_declaration", &mut decls);
        for d in decls {
            // `existing` references a resource declared elsewhere; it declares nothing.
            if f.node_text(d).lines().next().is_some_and(|l| l.contains(" existing ")) {
                continue;
            }
            let ty = d.named_child(1).map(|t| f.node_text(t).trim_matches('\'').to_string()).unwrap_or_default();
            let ty = ty.split('@').next().unwrap_or_default().to_string();
            out.entry(ty).or_default().push((f.path.file_name().unwrap().to_string_lossy().into_owned(), f.node_text(d).to_string()));
        }
    }
    out
}

fn one<'a>(r: &'a BTreeMap<String, Vec<(String, String)>>, ty: &str) -> &'a str {
    let list = r.get(ty).unwrap_or_else(|| panic!("no {ty} resource"));
    assert_eq!(list.len(), 1, "{ty}: {} declarations", list.len());
    &list[0].1
}

fn must(text: &str, what: &str, ty: &str) {
    assert!(text.contains(what), "{ty} must set `{what}`:\n{text}");
}

#[test]
fn every_bicep_file_parses() {
    let files = bicep_files();
    assert!(files.len() >= 10, "{} files", files.len());
    for f in &files {
        let root = f.tree.root_node();
        let mut errors = Vec::new();
        nodes(root, "ERROR", &mut errors);
        assert!(
            !root.has_error(),
            "{} has syntax errors at {:?}",
            f.path.display(),
            errors.iter().map(|e| e.start_position()).collect::<Vec<_>>()
        );
    }
    // And a broken file is noticed (the check can fail).
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_bicep::LANGUAGE.into()).unwrap();
    assert!(parser
        .parse("resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n", None)
        .unwrap()
        .root_node()
        .has_error());
}

#[test]
fn parameters_are_described_and_outputs_hold_no_secrets() {
    for f in bicep_files() {
        let root = f.tree.root_node();
        let mut c = root.walk();
        let top: Vec<Node<'_>> = root.children(&mut c).collect();
        for (i, n) in top.iter().enumerate() {
            if n.kind() == "parameter_declaration" || n.kind() == "output_declaration" {
                let described = i > 0 && top[i - 1].kind() == "decorators" && f.node_text(top[i - 1]).contains("@description(");
                assert!(described, "{}: `{}` has no @description", f.path.display(), f.node_text(*n).lines().next().unwrap());
                let name = n.named_child(0).map(|x| f.node_text(x).to_string()).unwrap_or_default();
                if n.kind() == "parameter_declaration" {
                    assert!(
                        name.chars().next().unwrap().is_lowercase() && !name.contains('_'),
                        "{}: parameter `{name}` is not lowerCamelCase",
                        f.path.display()
                    );
                    let lower = name.to_lowercase();
                    assert!(
                        !(lower.contains("password") || lower.contains("secret") || lower.contains("key")),
                        "{}: `{name}` looks secret",
                        f.path.display()
                    );
                }
            }
            if n.kind() == "output_declaration" {
                let text = f.node_text(*n);
                for bad in ["listKeys(", "listConnectionStrings(", "primaryKey", "connectionString", "AccountKey="] {
                    assert!(!text.contains(bad), "{}: an output holds `{bad}`: {text}", f.path.display());
                }
            }
        }
        assert!(!f.text.contains("core.windows.net"), "{}: hard-coded storage URL; use environment().suffixes", f.path.display());
        for bad in ["AccountKey=", "SharedAccessKey", "DefaultEndpointsProtocol", "listKeys(", "AuthorizationRules"] {
            assert!(!f.text.contains(bad), "{}: `{bad}`", f.path.display());
        }
    }
}

#[test]
fn data_plane_services_are_private_with_local_auth_off() {
    let r = resources(&bicep_files());
    let storage = one(&r, "Microsoft.Storage/storageAccounts");
    for p in [
        "minimumTlsVersion: 'TLS1_2'",
        "supportsHttpsTrafficOnly: true",
        "allowBlobPublicAccess: false",
        "allowSharedKeyAccess: false",
        "defaultToOAuthAuthentication: true",
        "publicNetworkAccess: 'Disabled'",
        "defaultAction: 'Deny'",
    ] {
        must(storage, p, "storage");
    }
    must(one(&r, "Microsoft.Storage/storageAccounts/blobServices/containers"), "publicAccess: 'None'", "containers");
    must(one(&r, "Microsoft.Storage/storageAccounts/managementPolicies"), "daysAfterModificationGreaterThan", "lifecycle");

    let sb = one(&r, "Microsoft.ServiceBus/namespaces");
    for p in ["name: 'Premium'", "disableLocalAuth: true", "minimumTlsVersion: '1.2'", "publicNetworkAccess: 'Disabled'"] {
        must(sb, p, "service bus");
    }
    let queues = one(&r, "Microsoft.ServiceBus/namespaces/queues");
    must(queues, "requiresDuplicateDetection: true", "queues");
    must(queues, "maxDeliveryCount:", "queues");
    let sb_file = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/modules/servicebus.bicep")).unwrap();
    for q in ["'dispatch'", "'poll'", "'quarantine'"] {
        assert!(sb_file.contains(q), "queue {q}");
    }

    let kv = one(&r, "Microsoft.KeyVault/vaults");
    for p in ["enableRbacAuthorization: true", "publicNetworkAccess: 'Disabled'", "enablePurgeProtection: true"] {
        must(kv, p, "key vault");
    }
    let law = one(&r, "Microsoft.OperationalInsights/workspaces");
    for p in ["disableLocalAuth: true", "publicNetworkAccessForIngestion: 'Disabled'", "publicNetworkAccessForQuery: 'Disabled'"] {
        must(law, p, "log analytics");
    }
    let appi = one(&r, "Microsoft.Insights/components");
    for p in ["DisableLocalAuth: true", "WorkspaceResourceId:", "publicNetworkAccessForIngestion: 'Disabled'"] {
        must(appi, p, "app insights");
    }
    must(one(&r, "Microsoft.Insights/dataCollectionEndpoints"), "publicNetworkAccess: 'Disabled'", "dce");
    let dcr = one(&r, "Microsoft.Insights/dataCollectionRules");
    for p in ["dataCollectionEndpointId:", "'Custom-FlowgateAudit_CL'", "outputStream: 'Custom-FlowgateAudit_CL'", "workspaceResourceId:"] {
        must(dcr, p, "dcr");
    }
    // The audit table and the facts' tables (heartbeat, signals, runs), each fed by the rule.
    let tables = &r["Microsoft.OperationalInsights/workspaces/tables"];
    for t in ["FlowgateAudit_CL", "FlowgateHeartbeat_CL", "FlowgateSignals_CL", "FlowgateRuns_CL"] {
        assert!(tables.iter().any(|(_, text)| text.contains(&format!("name: '{t}'"))), "table {t}");
        must(dcr, &format!("outputStream: 'Custom-{t}'"), "dcr");
        must(dcr, &format!("'Custom-{t}'"), "dcr stream declaration");
    }
    // Diagnostic settings on storage services, Service Bus and Key Vault.
    let diags = &r["Microsoft.Insights/diagnosticSettings"];
    for file in ["storage.bicep", "servicebus.bicep", "keyvault.bicep"] {
        assert!(
            diags.iter().any(|(f, t)| f == file && t.contains("workspaceId:") && t.contains("categoryGroup:")),
            "diagnostics in {file}"
        );
    }
}

#[test]
fn the_audit_container_is_immutable_with_protected_appends() {
    let r = resources(&bicep_files());
    let policy = one(&r, "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies");
    for p in [
        "name: 'default'",
        "immutabilityPeriodSinceCreationInDays: auditRetentionDays",
        "allowProtectedAppendWrites: true",
        "parent: containerSet[4]",
    ] {
        must(policy, p, "immutability policy");
    }
    let storage = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/modules/storage.bicep")).unwrap();
    let list: Vec<&str> = storage.split("var containers = [").nth(1).unwrap().split(']').next().unwrap().split_whitespace().collect();
    assert_eq!(list.get(4), Some(&"'audit'"), "the policy's parent is the audit container: {list:?}");
}

#[test]
fn the_function_app_runs_flex_with_identity_based_settings_only() {
    let r = resources(&bicep_files());
    let plan = one(&r, "Microsoft.Web/serverfarms");
    for p in ["name: 'FC1'", "tier: 'FlexConsumption'", "reserved: true"] {
        must(plan, p, "plan");
    }
    let site = one(&r, "Microsoft.Web/sites");
    for p in [
        "type: 'UserAssigned'",
        "httpsOnly: true",
        "publicNetworkAccess: 'Disabled'",
        "virtualNetworkSubnetId:",
        "name: 'custom'",
        "type: 'UserAssignedIdentity'",
        "minTlsVersion: '1.2'",
        "ftpsState: 'Disabled'",
        "'azd-service-name': 'flowgate'",
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential', value: 'managedidentity'",
        "AzureWebJobsStorage__clientId",
        "ServiceBusConnection__fullyQualifiedNamespace",
        "ServiceBusConnection__credential', value: 'managedidentity'",
        "ServiceBusConnection__clientId",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD'",
    ] {
        must(site, p, "function app");
    }
    for deprecated in
        ["FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENT", "linuxFxVersion"]
    {
        assert!(!site.contains(deprecated), "Flex Consumption does not take {deprecated}");
    }
    // The integration subnet is delegated to Flex, and separate from the private endpoints'.
    let vnet = one(&r, "Microsoft.Network/virtualNetworks");
    must(vnet, "serviceName: 'Microsoft.App/environments'", "vnet");
    must(vnet, "name: 'private-endpoints'", "vnet");
}

#[test]
fn every_data_plane_service_has_a_private_endpoint_with_its_dns_zone() {
    let files = bicep_files();
    let core = files.iter().find(|f| f.path.ends_with("modules/core.bicep")).unwrap();
    let zones: Vec<String> = core
        .text
        .split("var zoneNames = [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .lines()
        .map(|l| l.trim().trim_matches('\'').replace("${storageSuffix}", "core.windows.net"))
        .filter(|l| !l.is_empty())
        .collect();
    let expected: &[(&str, &[&str])] = &[
        ("blob", &["privatelink.blob.core.windows.net"]),
        ("table", &["privatelink.table.core.windows.net"]),
        ("queue", &["privatelink.queue.core.windows.net"]),
        ("namespace", &["privatelink.servicebus.windows.net"]),
        ("vault", &["privatelink.vaultcore.azure.net"]),
        ("sites", &["privatelink.azurewebsites.net"]),
        ("account", &["privatelink.cognitiveservices.azure.com", "privatelink.openai.azure.com", "privatelink.services.ai.azure.com"]),
        (
            "azuremonitor",
            &["privatelink.monitor.azure.com", "privatelink.oms.opinsights.azure.com", "privatelink.ods.opinsights.azure.com"],
        ),
    ];
    let mut modules = Vec::new();
    nodes(core.tree.root_node(), "module_declaration", &mut modules);
    let endpoints: Vec<&str> = modules.iter().map(|m| core.node_text(*m)).filter(|t| t.contains("'private-endpoint.bicep'")).collect();
    for (group, want) in expected {
        let pe = endpoints
            .iter()
            .find(|t| t.contains(&format!("groupId: '{group}'")))
            .unwrap_or_else(|| panic!("no private endpoint for `{group}`"));
        let used: Vec<&str> =
            pe.split("zoneIds[").skip(1).filter_map(|s| s.split(']').next()?.parse::<usize>().ok()).map(|i| zones[i].as_str()).collect();
        for z in *want {
            assert!(used.contains(z), "the `{group}` endpoint must register in {z}; it uses {used:?}");
        }
    }
    // The module adds the zone group to each endpoint; every zone is linked to the network.
    let r = resources(&files);
    must(one(&r, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"), "privateDnsZoneId:", "zone group");
    must(one(&r, "Microsoft.Network/privateDnsZones/virtualNetworkLinks"), "virtualNetwork:", "zone links");
}

#[test]
fn role_assignments_are_least_privilege_service_principals() {
    let r = resources(&bicep_files());
    let allowed = [
        "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", // Service Bus Data Sender
        "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", // Service Bus Data Receiver
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", // Storage Blob Data Owner (host storage)
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88", // Storage Queue Data Contributor
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", // Storage Table Data Contributor
        "3913510d-42f4-4e42-8a64-420c390055eb", // Monitoring Metrics Publisher
        "4633458b-17de-408a-b874-0445c86b69e6", // Key Vault Secrets User
        "53ca6127-db72-4b80-b1b0-d745d6d5456d", // Azure AI User
        "f6c7c914-8db3-469d-8ca1-694a8f32e121", // AzureML Data Scientist (one online endpoint, for the switch)
    ];
    let assignments = &r["Microsoft.Authorization/roleAssignments"];
    assert!(assignments.len() >= 6);
    for (file, t) in assignments {
        must(t, "principalType: 'ServicePrincipal'", file);
        must(t, "name: guid(", file);
    }
    for f in bicep_files() {
        for word in f.text.split(|c: char| c == '\'' || c.is_whitespace()) {
            if word.len() == 36 && word.matches('-').count() == 4 {
                assert!(allowed.contains(&word), "{}: role or id {word} is not one of the least-privilege roles", f.path.display());
            }
        }
    }
}

/// Data arrivals in the private deployment: the storage account's system topic (with its own
/// identity) delivers BlobCreated on `landing/` to the `arrivals` queue with that identity, which
/// holds Data Sender on that queue only; the namespace stays closed to the public (trusted
/// services only); DataArrived is triggered from the queue; nothing delivers to the function.
#[test]
fn data_arrivals_reach_a_private_app_through_the_arrivals_queue() {
    let r = resources(&bicep_files());
    let topic = one(&r, "Microsoft.EventGrid/systemTopics");
    must(topic, "type: 'SystemAssigned'", "system topic");
    must(topic, "topicType: 'Microsoft.Storage.StorageAccounts'", "system topic");
    let sub = one(&r, "Microsoft.EventGrid/systemTopics/eventSubscriptions");
    for want in [
        "deliveryWithResourceIdentity:",
        "type: 'SystemAssigned'",
        "endpointType: 'ServiceBusQueue'",
        "resourceId: arrivals.id",
        "'Microsoft.Storage.BlobCreated'",
        "subjectBeginsWith: '/blobServices/default/containers/landing/'",
    ] {
        must(sub, want, "event subscription");
    }
    assert!(!sub.contains("AzureFunction") && !sub.contains("WebHook"), "nothing is delivered to the (private) function app:\n{sub}");
    let eventgrid = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/modules/eventgrid.bicep")).unwrap();
    let send = eventgrid.split("resource send ").nth(1).expect("a role assignment for the topic's identity");
    let send = send.split("\nresource ").next().unwrap();
    for want in ["scope: arrivals", "principalId: topic.identity.principalId", "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"] {
        assert!(
            send.contains(want) || eventgrid.contains(&format!("dataSender = '{want}'")),
            "the topic's role assignment must hold `{want}`:\n{send}"
        );
    }
    let rules = one(&r, "Microsoft.ServiceBus/namespaces/networkRuleSets");
    for want in ["publicNetworkAccess: 'Disabled'", "defaultAction: 'Deny'", "trustedServiceAccessEnabled: true", "ipRules: []"] {
        must(rules, want, "Service Bus network rules");
    }
    let queues = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/modules/servicebus.bicep")).unwrap();
    assert!(queues.contains("'arrivals'"), "the namespace has an `arrivals` queue");
    let def: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("function-defs/DataArrived/function.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(def["bindings"][0]["type"], "serviceBusTrigger");
    assert_eq!(def["bindings"][0]["queueName"], "arrivals");
    assert_eq!(def["bindings"][0]["connection"], "ServiceBusConnection");
}

/// The backstops of docs/monitoring.md: an action group, a log alert when the heartbeat stops
/// (over the table the handler writes), a dead-letter metric alert; both resolve themselves.
#[test]
fn azure_monitor_backstops_alert_on_a_missing_heartbeat_and_on_dead_letters() {
    let r = resources(&bicep_files());
    let ag = one(&r, "Microsoft.Insights/actionGroups");
    for p in ["location: 'Global'", "groupShortName: 'flowgate'", "useCommonAlertSchema: true", "useAadAuth: true"] {
        must(ag, p, "action group");
    }
    let hb = one(&r, "Microsoft.Insights/scheduledQueryRules");
    for p in [
        "kind: 'LogAlert'",
        "FlowgateHeartbeat_CL",
        "windowSize: 'PT15M'",
        "operator: 'LessThan'",
        "autoMitigate: true",
        "skipQueryValidation: true",
        "actionGroups: [ group.id ]",
    ] {
        must(hb, p, "heartbeat rule");
    }
    let dlq = one(&r, "Microsoft.Insights/metricAlerts");
    for p in [
        "location: 'global'",
        "metricName: 'DeadletteredMessages'",
        "name: 'EntityName', operator: 'Include', values: [ '*' ]",
        "operator: 'GreaterThan'",
        "threshold: 0",
        "timeAggregation: 'Maximum'",
        "autoMitigate: true",
    ] {
        must(dlq, p, "dead-letter alert");
    }
    // The handler writes what the rule reads.
    let facts = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("handlers/adapters/azure/logs_ingestion.rs")).unwrap();
    assert!(facts.contains("\"Custom-FlowgateHeartbeat_CL\""));
    let core = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/modules/core.bicep")).unwrap();
    assert!(core.contains("module alerts 'alerts.bicep'") && core.contains("serviceBusNamespaceId: serviceBus.outputs.resourceId"));
}

#[test]
fn the_linter_configuration_sets_the_security_rules_to_error() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/bicepconfig.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for rule in [
        "outputs-should-not-contain-secrets",
        "secure-parameter-default",
        "secure-secrets-in-params",
        "use-secure-value-for-secure-inputs",
        "no-hardcoded-env-urls",
    ] {
        assert_eq!(v["analyzers"]["core"]["rules"][rule]["level"], "error", "{rule}");
    }
}

/// checkov (pinned, `--framework bicep --skip-download`; `scripts/test` installs it and sets
/// `FLOWGATE_CHECKOV`): no parsing errors (which checkov itself exits 0 on), no failed checks,
/// and every skip inline in the template with its reason.
#[test]
fn checkov_is_clean() {
    let Ok(checkov) = std::env::var("FLOWGATE_CHECKOV") else {
        assert!(std::env::var_os("FLOWGATE_REQUIRE_CHECKOV").is_none(), "FLOWGATE_REQUIRE_CHECKOV is set but FLOWGATE_CHECKOV is not");
        eprintln!("skipped: FLOWGATE_CHECKOV is not set (scripts/test installs checkov and sets it)");
        return;
    };
    let out = std::process::Command::new(checkov)
        .args(["-d", "infra", "--framework", "bicep", "--skip-download", "-o", "json", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkov printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let report = if v.is_array() { v[0].clone() } else { v };
    let summary = &report["summary"];
    assert_eq!(summary["parsing_errors"], 0, "{:#}", report["results"]["parsing_errors"]);
    assert_eq!(summary["failed"], 0, "{:#}", report["results"]["failed_checks"]);
    assert!(summary["passed"].as_u64().unwrap_or(0) >= 20, "{summary}");
    for skip in report["results"]["skipped_checks"].as_array().into_iter().flatten() {
        let reason = skip["check_result"]["suppress_comment"].as_str().unwrap_or_default();
        assert!(reason.len() > 20, "{} skipped without a reason in {}", skip["check_id"], skip["file_path"]);
    }
}
