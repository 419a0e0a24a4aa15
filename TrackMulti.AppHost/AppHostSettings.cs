namespace TrackMulti.AppHost;

/// <summary>Which S3 endpoint the local stack uses (<c>S3_EMULATOR</c>).</summary>
public enum S3EmulatorMode
{
    /// <summary>LocalStack when a container runtime answers, s3rver otherwise.</summary>
    Auto,
    LocalStack,
    S3rver,
    /// <summary>Real AWS S3: bucket, region and credentials come from configuration.</summary>
    None,
}

/// <summary>
/// The AppHost's settings, by the seed's variable names (from the environment, the command line or the repo's
/// <c>.env</c>), with the defaults that let a fresh clone run with nothing configured.
/// </summary>
public sealed record AppHostSettings
{
    public const string DefaultBucket = "trackmulti-events";
    public const string DefaultRegion = "us-east-1";
    public const string DefaultFmeKey = "localhost";
    public const int DefaultS3EmulatorPort = 4566;

    public required S3EmulatorMode Emulator { get; init; }
    public required string Bucket { get; init; }
    public required string Region { get; init; }
    public int? BatchSize { get; init; }

    /// <summary>The seed's <c>PORT</c>: where the page is served (the Web's host port).</summary>
    public int? WebPort { get; init; }

    /// <summary>
    /// The emulator's port on this machine (<c>S3_EMULATOR_PORT</c>, default 4566 like LocalStack), so
    /// <c>aws --endpoint-url http://localhost:4566</c> works the same in both modes.
    /// </summary>
    public int S3EmulatorPort { get; init; } = DefaultS3EmulatorPort;

    /// <summary>How many Api replicas run on the one spool folder (<c>API_REPLICAS</c>, default 1).</summary>
    public int ApiReplicas { get; init; } = 1;

    /// <summary>The Api's spool (<c>SPOOL_DIR</c>, default <c>.data/spool</c> in the repository), shared by its replicas.</summary>
    public required string SpoolDirectory { get; init; }

    /// <summary>Where s3rver keeps its objects, browsable as files.</summary>
    public required string S3rverDataDirectory { get; init; }

    public static AppHostSettings From(IConfiguration configuration, string repositoryRoot)
    {
        var emulator = configuration["S3_EMULATOR"] is { Length: > 0 } mode
            ? Enum.TryParse<S3EmulatorMode>(mode, ignoreCase: true, out var parsed)
                ? parsed
                : throw new InvalidOperationException($"S3_EMULATOR must be auto, localstack, s3rver or none, not '{mode}'.")
            : S3EmulatorMode.Auto;

        return new AppHostSettings
        {
            Emulator = emulator,
            Bucket = NonEmpty(configuration["S3_BUCKET_NAME"]) ?? DefaultBucket,
            Region = NonEmpty(configuration["AWS_REGION"]) ?? DefaultRegion,
            BatchSize = ParseInt(configuration, "BATCH_SIZE"),
            WebPort = ParseInt(configuration, "PORT"),
            S3EmulatorPort = ParseInt(configuration, "S3_EMULATOR_PORT") ?? DefaultS3EmulatorPort,
            ApiReplicas = ParseInt(configuration, "API_REPLICAS") is { } replicas && NonEmpty(configuration["INSTANCE_ID"]) is { } id && replicas > 1
                ? throw new InvalidOperationException($"INSTANCE_ID={id} would name all {replicas} replicas alike; leave it unset with API_REPLICAS.")
                : ParseInt(configuration, "API_REPLICAS") ?? 1,
            SpoolDirectory = Path.GetFullPath(
                NonEmpty(configuration["SPOOL_DIR"]) ?? Path.Combine(repositoryRoot, ".data", "spool"), repositoryRoot),
            S3rverDataDirectory = Path.GetFullPath(
                NonEmpty(configuration["S3RVER_DATA_DIR"]) ?? Path.Combine(repositoryRoot, ".data", "s3rver"), repositoryRoot),
        };
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static int? ParseInt(IConfiguration configuration, string key) =>
        NonEmpty(configuration[key]) is { } text
            ? int.TryParse(text, out var number) && number > 0
                ? number
                : throw new InvalidOperationException($"{key} must be a positive whole number, not '{text}'.")
            : null;
}
