namespace TrackMulti.Tests.Infrastructure;

/// <summary>The built Web run on its own, forwarding /api to the Api at <c>API_URL</c>.</summary>
internal sealed class WebProcess : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private WebProcess(ChildProcess process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    /// <summary>What the Web logged (the forwarder logs each request it forwards).</summary>
    public string Output => _process.Output;

    private static string ProjectDirectory => Path.Combine(TestPaths.RepositoryRoot, "TrackMulti.Web");

    /// <param name="settings">More of the Web's settings (keys, limits).</param>
    public static async Task<WebProcess> StartAsync(string apiUrl, string fmeApiKey, params (string Name, string Value)[] settings)
    {
        var url = $"http://127.0.0.1:{ChildProcess.FreeTcpPort()}";
        var assembly = TestPaths.WebAssembly;
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = url,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            // As `dotnet run` does: the project folder is the content root, so wwwroot (with the SDK bundle the build
            // wrote there) is served from it.
            ["ASPNETCORE_CONTENTROOT"] = ProjectDirectory,
            ["API_URL"] = apiUrl,
            ["HARNESS_FME_API_KEY"] = fmeApiKey,
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = null,
        };
        foreach (var (name, value) in settings)
        {
            environment[name] = value;
        }
        var process = ChildProcess.Start("dotnet", [assembly], environment, ProjectDirectory);
        await process.WaitForHttpAsync(url + "/alive", TimeSpan.FromSeconds(60));
        return new WebProcess(process, url);
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
