//! The typed XNAT Command: what container-service's `Command.java` reads, field for field.
//!
//! Every struct deserialises with serde from the Command JSON (kebab-case keys, Jackson's
//! scalar coercions (`coerce.rs`), XNAT's defaults for absent keys) and serialises
//! back to the same keys, so `berth validate --json` can print the Command as berth
//! understood it. Unknown keys are ignored here, as XNAT ignores them; `parse.rs`
//! reports them as warnings. Enumerated strings keep values XNAT does not know in an
//! `Other` variant so that validation can point at them instead of failing the whole parse.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::coerce;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident (default $default:ident) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value XNAT does not know, kept as written.
            Other(String),
        }

        impl $name {
            /// The spellings XNAT knows, canonical first.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// Reads a value as XNAT spells it; anything else becomes `Other`.
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $text $(| $alias)* => Self::$variant, )+
                    other => Self::Other(other.to_string()),
                }
            }

            /// The value as written in a Command.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(coerce::opt_string(d)?.map_or_else(Self::default, |s| Self::parse(&s)))
            }
        }
    };
}

string_enum! {
    /// `type` of a Command (`CommandType.java`); absent means `docker`.
    CommandType (default Docker) {
        /// A tool run on XNAT data.
        Docker = "docker",
        /// Prepares files for another Command's mount (`via-setup-command`).
        DockerSetup = "docker-setup",
        /// Post-processes another Command's output (`via-wrapup-command`).
        DockerWrapup = "docker-wrapup",
    }
}

string_enum! {
    /// `type` of a command input (`CommandInputEntity.Type`); absent means `string`. XNAT
    /// stores any other value as `string` without complaint.
    InputType (default String) {
        /// Free text.
        String = "string",
        /// A switch rendered through `true-value`/`false-value`.
        Boolean = "boolean",
        /// A number (XNAT does not check it; berth does).
        Number = "number",
        /// A file path (XNAT also accepts `File`).
        File = "file" | "File",
        /// One of `select-values`.
        SelectOne = "select-one",
        /// Several of `select-values`, joined by `multiple-delimiter`.
        SelectMany = "select-many",
    }
}

string_enum! {
    /// `multiple-delimiter` of a `select-many` input (`CommandInputEntity.MultipleDelimiter`);
    /// absent means `space`.
    MultipleDelimiter (default Space) {
        /// `--flag a b`.
        Space = "space",
        /// `--flag 'a b'`: the joined values inside one pair of single quotes.
        QuotedSpace = "quoted-space",
        /// `--flag a,b`.
        Comma = "comma",
        /// `--flag a --flag b`.
        Flag = "flag",
    }
}

string_enum! {
    /// `type` of a wrapper input (`CommandWrapperInputType.java`); absent means `string`.
    WrapperInputType (default String) {
        /// Free text.
        String = "string",
        /// A boolean.
        Boolean = "boolean",
        /// A number.
        Number = "number",
        /// A directory.
        Directory = "Directory",
        /// Several files.
        Files = "File[]",
        /// A file of an XNAT resource.
        File = "File",
        /// An XNAT project.
        Project = "Project",
        /// A project-level asset.
        ProjectAsset = "ProjectAsset",
        /// An XNAT subject.
        Subject = "Subject",
        /// An experiment under a subject.
        SubjectAssessor = "SubjectAssessor",
        /// An imaging session.
        Session = "Session",
        /// A scan of a session.
        Scan = "Scan",
        /// An assessor.
        Assessor = "Assessor",
        /// A resource (folder of files).
        Resource = "Resource",
        /// A site or project configuration.
        Config = "Config",
        /// A file uploaded by the user.
        FileInput = "file",
    }
}

string_enum! {
    /// `type` of an output handler (`CommandWrapperOutputEntity.Type`); absent means `Resource`.
    OutputHandlerType (default Resource) {
        /// Files uploaded as a resource.
        Resource = "Resource",
        /// An assessor XML document.
        Assessor = "Assessor",
        /// A scan XML document.
        Scan = "Scan",
    }
}

/// An XNAT Container Service Command (schema-version 1.0).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Command {
    /// XNAT's database id, present in Commands exported from XNAT; berth ignores it.
    #[serde(default, deserialize_with = "coerce::opt_i64", skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// `name`: unique per image; required.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `label`: shown in XNAT's menus.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `description`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `version` of the Command (not of the tool).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `schema-version`, `1.0` for every Command XNAT writes.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// `info-url`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub info_url: Option<String>,
    /// `image`: `name:tag`. Absent in Commands kept in an image's `org.nrg.commands` label,
    /// where XNAT fills in the image the label was read from.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `container-name`: a template for the container's name.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `type`.
    #[serde(rename = "type", default)]
    pub kind: CommandType,
    /// `index`: the registry the image came from.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// `hash`: the image id.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// `working-directory`: a template for the container's working directory.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// `command-line`: the template with each input's replacement key.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    /// `command-metadata`: free JSON kept for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_metadata: Option<serde_json::Value>,
    /// `override-entrypoint`: run the command line with `/bin/sh -c` instead of the image's
    /// entrypoint.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub override_entrypoint: Option<bool>,
    /// `mounts`.
    #[serde(default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// `environment-variables`: name and value are both templates.
    #[serde(default, deserialize_with = "coerce::string_map", skip_serializing_if = "IndexMap::is_empty")]
    pub environment_variables: IndexMap<String, String>,
    /// `ports`: container port to host port, both templates.
    #[serde(default, deserialize_with = "coerce::string_map", skip_serializing_if = "IndexMap::is_empty")]
    pub ports: IndexMap<String, String>,
    /// `inputs`.
    #[serde(default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// `outputs`.
    #[serde(default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    /// `xnat`: the wrappers that tie the Command to XNAT data.
    #[serde(rename = "xnat", default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub wrappers: Vec<Wrapper>,
    /// `reserve-memory`, in MiB.
    #[serde(default, deserialize_with = "coerce::opt_i64", skip_serializing_if = "Option::is_none")]
    pub reserve_memory: Option<i64>,
    /// `limit-memory`, in MiB.
    #[serde(default, deserialize_with = "coerce::opt_i64", skip_serializing_if = "Option::is_none")]
    pub limit_memory: Option<i64>,
    /// `limit-cpu`, in CPUs (may be fractional).
    #[serde(default, deserialize_with = "coerce::opt_f64", skip_serializing_if = "Option::is_none")]
    pub limit_cpu: Option<f64>,
    /// `runtime`, e.g. `nvidia`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// `ipc-mode`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    /// `auto-remove`.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub auto_remove: Option<bool>,
    /// `shm-size`, in bytes (XNAT hands it to Docker unchanged).
    #[serde(default, deserialize_with = "coerce::opt_i64", skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    /// `network`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `container-labels`: name and value are both templates.
    #[serde(default, deserialize_with = "coerce::string_map", skip_serializing_if = "IndexMap::is_empty")]
    pub container_labels: IndexMap<String, String>,
    /// `gpus`: passed to the backend as written (Kubernetes).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
    /// `generic-resources`, e.g. `{"gpu": "1"}`: a number is a count, anything else a name.
    #[serde(default, deserialize_with = "coerce::string_map", skip_serializing_if = "IndexMap::is_empty")]
    pub generic_resources: IndexMap<String, String>,
    /// `ulimits`: name to `limit` or `soft:hard`.
    #[serde(default, deserialize_with = "coerce::string_map", skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, String>,
    /// `secrets`.
    #[serde(default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// `visibility`: `public` (the default), `private` or `protected`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
}

impl Command {
    /// Whether the command line runs under `/bin/sh -c` with the image's entrypoint cleared.
    pub fn overrides_entrypoint(&self) -> bool {
        self.override_entrypoint == Some(true)
    }

    /// The image with `:latest` added when it has no tag, as XNAT stores it
    /// (`Command.setDefaultTag`).
    pub fn image_with_tag(&self) -> Option<String> {
        self.image
            .as_deref()
            .filter(|i| !i.trim().is_empty())
            .map(|i| if image_has_tag(i) { i.to_string() } else { format!("{i}:latest") })
    }

    /// The input named `name`.
    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// The mount named `name`.
    pub fn mount(&self, name: &str) -> Option<&Mount> {
        self.mounts.iter().find(|m| m.name == name)
    }
}

/// XNAT's `HAS_TAG` test, `.+:[a-zA-Z0-9_.-]+$`: a colon followed by a tag that has no `/`
/// (so `localhost:5000/tool` has no tag).
pub(crate) fn image_has_tag(image: &str) -> bool {
    match image.rfind(':') {
        Some(i) if i > 0 => {
            let tag = &image[i + 1..];
            !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        }
        _ => false,
    }
}

/// One entry of `mounts`: a directory the container sees.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Mount {
    /// `name`, referred to by outputs and by wrapper inputs that provide files.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `writable`; absent means read-only.
    #[serde(default, deserialize_with = "coerce::bool_default_false")]
    pub writable: bool,
    /// `path` inside the container (a template).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One entry of `inputs`: a value the command line, environment or paths may use.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    /// `name`: letters, digits, `_` and `-`.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `label`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `description`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `type`.
    #[serde(rename = "type", default)]
    pub kind: InputType,
    /// `required`; absent means optional.
    #[serde(default, deserialize_with = "coerce::bool_default_false")]
    pub required: bool,
    /// `matcher`: a JSONPath filter XNAT applies to wrapper values (kept, not evaluated).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    /// `default-value`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// `replacement-key` as written; see [`Input::replacement_key`].
    #[serde(
        rename = "replacement-key",
        default,
        deserialize_with = "coerce::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_replacement_key: Option<String>,
    /// `command-line-flag`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub command_line_flag: Option<String>,
    /// `command-line-separator` between flag and value; absent means one space.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub command_line_separator: Option<String>,
    /// `true-value` of a boolean; absent means the value itself.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub true_value: Option<String>,
    /// `false-value` of a boolean; absent means the value itself.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub false_value: Option<String>,
    /// `sensitive`: XNAT masks the value in its records.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// `select-values` of a `select-one` or `select-many` input.
    #[serde(default, deserialize_with = "coerce::string_list", skip_serializing_if = "Vec::is_empty")]
    pub select_values: Vec<String>,
    /// `multiple-delimiter` of a `select-many` input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_delimiter: Option<MultipleDelimiter>,
}

impl Input {
    /// The replacement key: `replacement-key` unless blank, else `#NAME#`
    /// (`Command.Input.replacementKey`).
    pub fn replacement_key(&self) -> String {
        replacement_key(self.raw_replacement_key.as_deref(), &self.name)
    }

    /// Whether the input is `sensitive`.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive == Some(true)
    }

    /// Whether the input is `select-one` or `select-many`.
    pub fn is_select(&self) -> bool {
        matches!(self.kind, InputType::SelectOne | InputType::SelectMany)
    }
}

pub(crate) fn replacement_key(raw: Option<&str>, name: &str) -> String {
    match raw {
        Some(k) if !k.trim().is_empty() => k.to_string(),
        _ => format!("#{name}#"),
    }
}

/// One entry of `outputs`: files the container leaves in a mount.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Output {
    /// `name`, referred to by output handlers.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `description`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `required`: XNAT fails the run when the output cannot be handled.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// `mount` the files are in.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// `path` relative to the mount (a template); absent means the whole mount.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `glob`: kept, but XNAT 3.7 uploads everything under `path` and ignores it.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
}

/// One entry of `xnat`: a wrapper that connects the Command to XNAT data. berth parses and
/// checks wrappers but does not resolve them against an XNAT.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Wrapper {
    /// XNAT's database id; berth ignores it.
    #[serde(default, deserialize_with = "coerce::opt_i64", skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// `name`.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `label`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `description`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `contexts`: XNAT data types the wrapper can be launched from.
    #[serde(default, deserialize_with = "coerce::string_list", skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<String>,
    /// `external-inputs`: values given at launch.
    #[serde(default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub external_inputs: Vec<ExternalInput>,
    /// `derived-inputs`: values XNAT derives from other wrapper inputs.
    #[serde(default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub derived_inputs: Vec<DerivedInput>,
    /// `output-handlers`: where XNAT uploads each output.
    #[serde(default, deserialize_with = "coerce::list", skip_serializing_if = "Vec::is_empty")]
    pub output_handlers: Vec<OutputHandler>,
}

/// One entry of a wrapper's `external-inputs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExternalInput {
    /// `name`.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `label`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `description`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `type`.
    #[serde(rename = "type", default)]
    pub kind: WrapperInputType,
    /// `matcher`: a JSONPath filter (kept, not evaluated).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    /// `provides-value-for-command-input`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub provides_value_for_command_input: Option<String>,
    /// `provides-files-for-command-mount`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub provides_files_for_command_mount: Option<String>,
    /// `via-setup-command`: `image:tag:command` of a setup Command that prepares the files.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub via_setup_command: Option<String>,
    /// `default-value`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// `user-settable`.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub user_settable: Option<bool>,
    /// `replacement-key` as written; blank means `#NAME#`.
    #[serde(
        rename = "replacement-key",
        default,
        deserialize_with = "coerce::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_replacement_key: Option<String>,
    /// `required`; absent means required (unlike command inputs).
    #[serde(default = "coerce::yes", deserialize_with = "coerce::bool_default_true")]
    pub required: bool,
    /// `load-children`; absent means true.
    #[serde(default = "coerce::yes", deserialize_with = "coerce::bool_default_true")]
    pub load_children: bool,
    /// `sensitive`.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
}

impl ExternalInput {
    /// The replacement key: `replacement-key` unless blank, else `#NAME#`.
    pub fn replacement_key(&self) -> String {
        replacement_key(self.raw_replacement_key.as_deref(), &self.name)
    }
}

/// One entry of a wrapper's `derived-inputs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DerivedInput {
    /// `name`.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `label`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `description`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `type`.
    #[serde(rename = "type", default)]
    pub kind: WrapperInputType,
    /// `derived-from-wrapper-input`: the parent input (also read from the pre-1.0 spelling
    /// `derived-from-xnat-input`).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub derived_from_wrapper_input: Option<String>,
    /// The pre-1.0 spelling, moved into `derived_from_wrapper_input` after parsing.
    #[serde(rename = "derived-from-xnat-input", default, deserialize_with = "coerce::opt_string", skip_serializing)]
    pub(crate) legacy_derived_from: Option<String>,
    /// `derived-from-xnat-object-property`: which property of the parent gives the value.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub derived_from_xnat_object_property: Option<String>,
    /// `matcher`: a JSONPath filter (kept, not evaluated).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    /// `provides-value-for-command-input`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub provides_value_for_command_input: Option<String>,
    /// `provides-files-for-command-mount`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub provides_files_for_command_mount: Option<String>,
    /// `via-setup-command`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub via_setup_command: Option<String>,
    /// `default-value`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// `user-settable`.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub user_settable: Option<bool>,
    /// `replacement-key` as written; blank means `#NAME#`.
    #[serde(
        rename = "replacement-key",
        default,
        deserialize_with = "coerce::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_replacement_key: Option<String>,
    /// `required`; absent means required.
    #[serde(default = "coerce::yes", deserialize_with = "coerce::bool_default_true")]
    pub required: bool,
    /// `load-children`; absent means true.
    #[serde(default = "coerce::yes", deserialize_with = "coerce::bool_default_true")]
    pub load_children: bool,
    /// `sensitive`.
    #[serde(default, deserialize_with = "coerce::opt_bool", skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// `multiple`: the input may resolve to several values.
    #[serde(default, deserialize_with = "coerce::bool_default_false")]
    pub multiple: bool,
    /// `parser`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub parser: Option<String>,
}

impl DerivedInput {
    /// The replacement key: `replacement-key` unless blank, else `#NAME#`.
    pub fn replacement_key(&self) -> String {
        replacement_key(self.raw_replacement_key.as_deref(), &self.name)
    }
}

/// One entry of a wrapper's `output-handlers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct OutputHandler {
    /// `name`.
    #[serde(default, deserialize_with = "coerce::string")]
    pub name: String,
    /// `accepts-command-output`: the command output handled.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub accepts_command_output: Option<String>,
    /// `via-wrapup-command`.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub via_wrapup_command: Option<String>,
    /// `as-a-child-of`: the wrapper input or earlier handler the result is stored under (also
    /// read from `as-a-child-of-wrapper-input` and the pre-1.0 `as-a-child-of-xnat-input`).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub as_a_child_of: Option<String>,
    /// The 1.0–1.5 spelling, moved into `as_a_child_of` after parsing.
    #[serde(
        rename = "as-a-child-of-wrapper-input",
        default,
        deserialize_with = "coerce::opt_string",
        skip_serializing
    )]
    pub(crate) legacy_wrapper_input: Option<String>,
    /// The pre-1.0 spelling, moved into `as_a_child_of` after parsing.
    #[serde(rename = "as-a-child-of-xnat-input", default, deserialize_with = "coerce::opt_string", skip_serializing)]
    pub(crate) legacy_xnat_input: Option<String>,
    /// `type`.
    #[serde(rename = "type", default)]
    pub kind: OutputHandlerType,
    /// `xsi-type` of an assessor or scan.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub xsi_type: Option<String>,
    /// `label` (a template); required for resources.
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `format` (a template).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `description` (a template).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `content` (a template).
    #[serde(default, deserialize_with = "coerce::opt_string", skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `tags` (templates).
    #[serde(default, deserialize_with = "coerce::string_list", skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// One entry of `secrets`: a value XNAT reads from its own configuration and hands to the
/// container without it appearing in the Command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// Where the value comes from.
    pub source: SecretSource,
    /// Where the container finds it.
    pub destination: SecretDestination,
}

/// `secrets[].source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SecretSource {
    /// A Java system property of the XNAT server.
    SystemProperty {
        /// The property name.
        identifier: String,
    },
}

/// `secrets[].destination`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SecretDestination {
    /// An environment variable of the container.
    EnvironmentVariable {
        /// The variable name.
        identifier: String,
    },
}

impl SecretDestination {
    /// The environment variable name.
    pub fn env_name(&self) -> &str {
        match self {
            SecretDestination::EnvironmentVariable { identifier } => identifier,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_follow_xnats_pattern() {
        assert!(image_has_tag("busybox:latest"));
        assert!(image_has_tag("xnat/dcm2niix:1.0.2"));
        assert!(image_has_tag("registry:5000/tool:v1"));
        assert!(!image_has_tag("xnat/dcm2niix"));
        assert!(!image_has_tag("localhost:5000/tool"));
        assert!(!image_has_tag(":tag"));
        assert!(!image_has_tag("tool:"));
    }

    #[test]
    fn replacement_key_defaults_to_hash_name_hash() {
        let mut i = Input { name: "x".into(), ..Input::default() };
        assert_eq!(i.replacement_key(), "#x#");
        i.raw_replacement_key = Some("  ".into());
        assert_eq!(i.replacement_key(), "#x#");
        i.raw_replacement_key = Some("[X]".into());
        assert_eq!(i.replacement_key(), "[X]");
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        assert_eq!(InputType::parse("File"), InputType::File);
        assert_eq!(InputType::parse("integer"), InputType::Other("integer".into()));
        assert_eq!(InputType::parse("integer").as_str(), "integer");
        assert_eq!(MultipleDelimiter::default(), MultipleDelimiter::Space);
    }
}
