//! Lambda's documented limits (reference §13), as named constants.
//!
//! Every bound Versa enforces on a request lives here or in the server configuration.

/// Longest bare function name.
pub const FUNCTION_NAME_LEN_MAX: usize = 64;
/// Longest `FunctionName` parameter on operations that use the plain `FunctionName` shape.
pub const FUNCTION_NAME_PARAM_LEN_MAX: usize = 140;
/// Longest `FunctionName` parameter on operations that use `NamespacedFunctionName`.
pub const NAMESPACED_FUNCTION_NAME_PARAM_LEN_MAX: usize = 256;
/// Longest alias name.
pub const ALIAS_NAME_LEN_MAX: usize = 128;
/// Longest qualifier.
pub const QUALIFIER_LEN_MAX: usize = 128;
/// Longest description of a function, version or alias.
pub const DESCRIPTION_LEN_MAX: usize = 256;
/// Longest handler string.
pub const HANDLER_LEN_MAX: usize = 128;

pub const MEMORY_MB_MIN: u32 = 128;
pub const MEMORY_MB_MAX: u32 = 10_240;
pub const MEMORY_MB_DEFAULT: u32 = 128;
pub const TIMEOUT_S_MIN: u32 = 1;
pub const TIMEOUT_S_MAX: u32 = 900;
pub const TIMEOUT_S_DEFAULT: u32 = 3;
pub const EPHEMERAL_STORAGE_MB_MIN: u32 = 512;
pub const EPHEMERAL_STORAGE_MB_MAX: u32 = 10_240;
pub const EPHEMERAL_STORAGE_MB_DEFAULT: u32 = 512;

/// Largest compact-JSON encoding of a function's environment variables.
pub const ENVIRONMENT_BYTES_MAX: usize = 4096;
/// Most layers a function may reference.
pub const LAYERS_MAX: usize = 5;
/// Longest `LayerName` parameter (a name or a layer ARN), and longest layer version ARN.
pub const LAYER_NAME_PARAM_LEN_MAX: usize = 140;
/// Longest `LicenseInfo` of a layer version.
pub const LICENSE_INFO_LEN_MAX: usize = 512;
/// Most `CompatibleRuntimes` of a layer version.
pub const COMPATIBLE_RUNTIMES_MAX: usize = 15;
/// Most `CompatibleArchitectures` of a layer version.
pub const COMPATIBLE_ARCHITECTURES_MAX: usize = 2;
/// Largest `MaxItems` of ListLayers and ListLayerVersions (also their page size).
pub const LAYER_LIST_MAX_ITEMS: i64 = 50;
/// Longest statement id of a layer version permission.
pub const STATEMENT_ID_LEN_MAX: usize = 100;

/// Largest zipped deployment package accepted in a request.
pub const CODE_SIZE_ZIPPED_MAX: u64 = 52_428_800;
/// Largest unzipped deployment package.
pub const CODE_SIZE_UNZIPPED_MAX: u64 = 262_144_000;
/// Largest CreateFunction (and UpdateFunctionCode) request body.
pub const CREATE_FUNCTION_REQUEST_BYTES_MAX: usize = 70_167_211;
/// Total code storage per account and region.
pub const TOTAL_CODE_SIZE_MAX: u64 = 80_530_636_800;

/// Default account concurrency limit and the part of it that must stay unreserved.
pub const ACCOUNT_CONCURRENCY_DEFAULT: u32 = 1000;
pub const UNRESERVED_CONCURRENCY_MIN: u32 = 100;

/// Most tags on one function, and the longest key and value.
pub const TAGS_MAX: usize = 50;
pub const TAG_KEY_LEN_MAX: usize = 128;
pub const TAG_VALUE_LEN_MAX: usize = 256;

/// Most entries returned by one page of ListFunctions, ListVersionsByFunction or ListAliases,
/// whatever `MaxItems` asks for.
pub const LIST_PAGE_MAX: usize = 50;
/// Largest `MaxItems` those operations accept.
pub const LIST_MAX_ITEMS_MAX: i64 = 10_000;
