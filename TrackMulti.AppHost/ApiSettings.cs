namespace TrackMulti.AppHost;

public static class ApiSettings
{
    /// <summary>Api settings the AppHost passes on unchanged when they are configured (environment, arguments or .env).</summary>
    public static readonly string[] PassedThrough =
    [
        "BATCH_SIZE",
        "INSTANCE_ID",
        "UPLOAD_ATTEMPT_TIMEOUT_SECONDS",
        "UPLOAD_RETRIES",
        "UPLOAD_RETRY_BASE_DELAY_MS",
        "UPLOAD_PAUSE_MAX_SECONDS",
        "FLUSH_TIMEOUT_SECONDS",
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
    /// For real AWS: explicit keys from configuration travel as secret parameters; without them the Api uses the
    /// standard AWS credential chain (profile, SSO, instance or task role).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithAwsCredentialsFrom(
        this IResourceBuilder<ProjectResource> project, IDistributedApplicationBuilder builder)
    {
        if (builder.Configuration["AWS_ACCESS_KEY_ID"] is not { Length: > 0 } accessKeyId)
        {
            return project;
        }

        var accessKey = builder.AddParameter("aws-access-key-id", accessKeyId, secret: true);
        var secretKey = builder.AddParameter("aws-secret-access-key",
            () => builder.Configuration["AWS_SECRET_ACCESS_KEY"] ?? "", secret: true);
        return project.WithEnvironment("AWS_ACCESS_KEY_ID", accessKey).WithEnvironment("AWS_SECRET_ACCESS_KEY", secretKey);
    }
}
