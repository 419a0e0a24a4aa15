namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// The settings every Api under test gets, by the variable names a deployment uses, whether it runs as a child
/// process (<see cref="ApiProcess"/>) or in the test process (<c>InProcess.ApiHost</c>).
/// </summary>
internal static class ApiTestSettings
{
    /// <summary>The instance id (and spool sub-folder) of an Api started against a bucket, unless a test names another.</summary>
    public const string InstanceId = "api";

    /// <summary>
    /// The Api against <paramref name="bucket"/> in <paramref name="s3"/>, with the seed's variables, its own spool,
    /// and upload pacing made quick for tests; <paramref name="settings"/> add or override variables.
    /// </summary>
    public static Dictionary<string, string?> Against(
        S3rverProcess s3, string bucket, string spool, IEnumerable<(string Name, string Value)> settings)
    {
        var environment = new Dictionary<string, string?>
        {
            ["SPOOL_DIR"] = spool,
            ["S3_BUCKET_NAME"] = bucket,
            ["AWS_REGION"] = "us-east-1",
            ["AWS_ENDPOINT_URL_S3"] = s3.Url,
            ["AWS_ACCESS_KEY_ID"] = S3rverProcess.AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = S3rverProcess.AccessKey,
            ["UPLOAD_RETRY_BASE_DELAY_MS"] = "10",
            ["UPLOAD_RETRIES"] = "1",
            ["FLUSH_TIMEOUT_SECONDS"] = "10",
            ["RATE_LIMIT_PER_SECOND"] = "0", // load and fault tests send fast from one address; the limiter has its own test
            ["INSTANCE_ID"] = InstanceId, // so a restart takes its own spool folder back
        };
        foreach (var (name, value) in settings)
        {
            environment[name] = value;
        }
        return environment;
    }
}
