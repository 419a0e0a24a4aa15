namespace TrackMulti.AppHost;

public static class ApiSettings
{
    /// <summary>The Web's settings passed on unchanged when they are configured.</summary>
    public static readonly string[] WebPassedThrough = ["WEB_RATE_LIMIT_PER_SECOND", "TRACK_MODE", "FME_SDK_URL", "FME_DEMO_FLAG"];

    /// <summary>Api settings the AppHost passes on unchanged when they are configured (environment, arguments or .env).</summary>
    public static readonly string[] PassedThrough =
    [
        "BATCH_SIZE",
        "S3_PARTITIONING",
        "S3_COMPRESSION",
        "S3_FORMAT",
        "BATCH_MAX_BYTES",
        "BATCH_MAX_AGE_SECONDS",
        "SPOOL_MAX_BYTES",
        "SPOOL_ADOPT_SECONDS",
        "SPOOL_SYNC",
        "SPOOL_SYNC_INTERVAL_MS",
        "INSTANCE_ID",
        "UPLOAD_ATTEMPT_TIMEOUT_SECONDS",
        "UPLOAD_CONCURRENCY",
        "UPLOAD_RETRIES",
        "UPLOAD_RETRY_BASE_DELAY_MS",
        "UPLOAD_PAUSE_MAX_SECONDS",
        "FLUSH_TIMEOUT_SECONDS",
        "S3_HEALTH_CACHE_SECONDS",
        "TRACK_MAX_BODY_BYTES",
        "BATCH_MAX_EVENTS",
        "BATCH_MAX_BODY_BYTES",
        "RATE_LIMIT_PER_SECOND",
        "RATE_LIMIT_BURST",
        "CORS_ALLOWED_ORIGINS",
        "FME_EVENTS_URL",
        "FME_FORWARD",
        "FME_MAX_BACKLOG_BYTES",
        "FME_ATTEMPT_TIMEOUT_SECONDS",
        "FME_RETRIES",
        "FME_RETRY_BASE_DELAY_MS",
        "FME_PAUSE_MAX_SECONDS",
    ];

    public static IResourceBuilder<ProjectResource> WithPassThroughSettings(
        this IResourceBuilder<ProjectResource> project, IConfiguration configuration, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (configuration[name] is { Length: > 0 } value)
            {
                project.WithEnvironment(name, value);
            }
        }
        return project;
    }

    /// <summary>
    /// A secret parameter for one of the Api's keys: the value configured under <paramref name="setting"/>, or else
    /// a random one generated for the run (and left for the deployment to supply).
    /// </summary>
    public static IResourceBuilder<ParameterResource> AddApiKeyParameter(
        this IDistributedApplicationBuilder builder, string name, string setting) =>
        builder.Configuration[setting] is { Length: > 0 } configured
            ? builder.AddParameter(name, configured, secret: true)
            : builder.AddParameter(name, new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);

    /// <summary>
    /// For real AWS: keys from configuration (.env included) travel as secret parameters, a profile name as is;
    /// with none of them the Api uses the standard AWS credential chain (SSO, instance or task role).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithAwsCredentialsFrom(
        this IResourceBuilder<ProjectResource> project, IDistributedApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        if (configuration["AWS_PROFILE"] is { Length: > 0 } profile)
        {
            project.WithEnvironment("AWS_PROFILE", profile);
        }

        var accessKeyId = configuration["AWS_ACCESS_KEY_ID"];
        var secretAccessKey = configuration["AWS_SECRET_ACCESS_KEY"];
        if (string.IsNullOrEmpty(accessKeyId) && string.IsNullOrEmpty(secretAccessKey))
        {
            return project;
        }
        if (string.IsNullOrEmpty(accessKeyId) || string.IsNullOrEmpty(secretAccessKey))
        {
            throw new InvalidOperationException("Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither.");
        }

        project
            .WithEnvironment("AWS_ACCESS_KEY_ID", builder.AddParameter("aws-access-key-id", accessKeyId, secret: true))
            .WithEnvironment("AWS_SECRET_ACCESS_KEY", builder.AddParameter("aws-secret-access-key", secretAccessKey, secret: true));
        if (configuration["AWS_SESSION_TOKEN"] is { Length: > 0 } sessionToken)
        {
            project.WithEnvironment("AWS_SESSION_TOKEN", builder.AddParameter("aws-session-token", sessionToken, secret: true));
        }
        return project;
    }
}
