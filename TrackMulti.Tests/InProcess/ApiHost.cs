using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// The Api hosted in the test process: its own Program (<see cref="WebApplicationFactory{TEntryPoint}"/>) on real
/// Kestrel over loopback, configured by the same settings a child process gets as environment variables
/// (<see cref="ApiTestSettings.Against"/>), against a bucket and spool of its own. It saves a process start per test
/// where the process boundary is not what a test is about; what it logs is captured in <see cref="Logs"/>.
/// </summary>
internal sealed class ApiHost : IAsyncDisposable
{
    private const string HostVariablePrefix = "DOTNET_";

    // Any public type of the Api's assembly names its entry point (its Program is top-level, hence internal); the
    // OpenAPI tests use the same one.
    private readonly WebApplicationFactory<Rejection> _factory;

    private ApiHost(WebApplicationFactory<Rejection> factory)
    {
        _factory = factory;
        // A plain client on Kestrel's loopback address, as a client of the process would have.
        var address = factory.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public HttpClient Http { get; }

    public IServiceProvider Services => _factory.Services;

    /// <summary>Everything the Api logged, formatted, level and all.</summary>
    public FakeLogCollector Logs => Services.GetFakeLogCollector();

    /// <summary>The newest of the captured log, as text, for assertion messages.</summary>
    public string Output => LogText(200);

    /// <summary>The captured log as text (the newest <paramref name="last"/> records when given), exceptions included.</summary>
    public string LogText(int? last = null)
    {
        var records = Logs.GetSnapshot();
        return string.Join(Environment.NewLine, records.Skip(last is { } n ? Math.Max(0, records.Count - n) : 0)
            .Select(r => $"{r.Level}: {r.Category}: {r.Message}{(r.Exception is null ? "" : " " + r.Exception)}"));
    }

    /// <summary>The Api against <paramref name="bucket"/>; <paramref name="settings"/> add or override variables.</summary>
    public static Task<ApiHost> StartAsync(S3rverBucket bucket, params (string Name, string Value)[] settings) =>
        StartAsync(bucket, s3Handler: null, settings);

    /// <param name="s3Handler">Sits between the Api's S3 client and the wire (a fault, a counter), when given.</param>
    public static async Task<ApiHost> StartAsync(S3rverBucket bucket, HttpMessageHandler? s3Handler, params (string Name, string Value)[] settings)
    {
        var environment = ApiTestSettings.Against(bucket.S3, bucket.Name, bucket.SpoolDirectory, settings);
        var factory = new WebApplicationFactory<Rejection>().WithWebHostBuilder(web =>
        {
            // Production, as deployed, unless the settings name another (DOTNET_ENVIRONMENT, applied after this).
            web.UseEnvironment(Environments.Production);
            // Host settings reach the Api's Program before it reads its configuration, as environment variables do.
            foreach (var (name, value) in environment)
            {
                // DOTNET_-prefixed variables are the host's own settings, read without the prefix.
                web.UseSetting(name.StartsWith(HostVariablePrefix, StringComparison.Ordinal) ? name[HostVariablePrefix.Length..] : name, value);
            }
            web.ConfigureLogging(logging => logging.ClearProviders().AddFakeLogging());
            web.ConfigureTestServices(services =>
            {
                // The AWS SDK reads credentials from the process environment, which tests share: give this host its own.
                services.AddSingleton<IAmazonS3>(sp =>
                {
                    var config = S3Extensions.CreateS3Config(sp.GetRequiredService<IOptions<S3Options>>().Value);
                    if (s3Handler is not null)
                    {
                        config.HttpClientFactory = new HandlerHttpClientFactory(s3Handler);
                    }
                    return new AmazonS3Client(new BasicAWSCredentials(environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"]), config);
                });
            });
        });
        factory.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        try
        {
            await Task.Run(factory.StartServer);
        }
        catch
        {
            await factory.DisposeAsync();
            throw;
        }
        return new ApiHost(factory);
    }

    public async Task<JsonObject> StatusAsync() =>
        Assert.IsType<JsonObject>(await Http.GetFromJsonAsync<JsonNode>("/api/status"));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _factory.DisposeAsync();
    }
}
