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

    /// <summary>The Api against <paramref name="bucket"/> in <paramref name="s3"/> with <see cref="ApiTestSettings.Against"/>.</summary>
    public static Task<ApiProcess> StartAgainstAsync(
        S3rverProcess s3, string bucket, string spool, params (string Name, string Value)[] settings) =>
        StartAsync(ApiTestSettings.Against(s3, bucket, spool, settings));

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
