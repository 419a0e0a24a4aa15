using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>The built Api run on its own, as a user would run it: configured only by the seed's environment variables.</summary>
internal sealed class ApiProcess : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private ApiProcess(ChildProcess process, int port)
    {
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public HttpClient Http { get; }

    public string Output => _process.Output;

    public ChildProcess Process => _process;

    /// <summary>The instance id (and spool sub-folder) of an Api started against a bucket, unless a test names another.</summary>
    public const string DefaultInstanceId = "api";

    /// <summary>
    /// The Api against <paramref name="s3"/> with the seed's variables, its own spool, and upload pacing made quick
    /// for tests; <paramref name="settings"/> add or override variables.
    /// </summary>
    public static Task<ApiProcess> StartAgainstAsync(
        S3rverProcess s3, string bucket, string spool, params (string Name, string Value)[] settings)
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
            ["INSTANCE_ID"] = DefaultInstanceId, // so a restart takes its own spool folder back
        };
        foreach (var (name, value) in settings)
        {
            environment[name] = value;
        }
        return StartAsync(environment);
    }

    public static async Task<ApiProcess> StartAsync(IDictionary<string, string?> environment)
    {
        var port = ChildProcess.FreeTcpPort();
        var env = new Dictionary<string, string?>(environment)
        {
            ["PORT"] = port.ToString(),
            // Only PORT decides where it listens; make sure nothing inherited says otherwise.
            ["ASPNETCORE_URLS"] = null,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = null,
        };
        var process = ChildProcess.Start("dotnet", [TestPaths.ApiAssembly], env, Path.GetDirectoryName(TestPaths.ApiAssembly));
        var api = new ApiProcess(process, port);
        await process.WaitForHttpAsync($"http://127.0.0.1:{port}/alive", TimeSpan.FromSeconds(60));
        return api;
    }

    public async Task<JsonObject> StatusAsync() =>
        Assert.IsType<JsonObject>(await Http.GetFromJsonAsync<JsonNode>("/api/status"));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _process.DisposeAsync();
    }
}
