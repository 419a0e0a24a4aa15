using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Amazon.S3;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.WholeApp;

/// <summary>
/// The whole stack (AppHost in s3rver mode: emulator, Api, Web) started once and shared by every whole-app test,
/// because one start is slow. Every error a resource logs fails the test it happened in
/// (<see cref="FailOnResourceErrorsAttribute"/>), or, outside any test, the collection.
/// </summary>
public sealed class WholeAppFixture : IAsyncLifetime
{
    public const string Bucket = "app-tests";
    public const int BatchSize = 5;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    public DistributedApplication App { get; private set; } = null!;

    /// <summary>The running fixture's resource errors (one whole app per test run); null while none runs.</summary>
    internal static ResourceErrorLog? Errors { get; private set; }

    private int _checkedErrors;

    public string S3rverDataDirectory { get; } = TestPaths.NewTemporaryDirectory("apphost-s3rver");

    public string SpoolDirectory { get; } = TestPaths.NewTemporaryDirectory("apphost-spool");

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.TrackMulti_AppHost>(
            [
                "S3_EMULATOR=s3rver",
                $"S3RVER_DATA_DIR={S3rverDataDirectory}",
                $"S3_BUCKET_NAME={Bucket}",
                $"BATCH_SIZE={BatchSize}",
                "PORT=",
                $"SPOOL_DIR={SpoolDirectory}",
                "TRACKMULTI_DOTENV=",
                // The dashboard runs too, so tests can read traces from its telemetry API; no dev certificate here.
                "ASPIRE_ALLOW_UNSECURED_TRANSPORT=true",
            ],
            (options, _) => options.DisableDashboard = false,
            cts.Token);
        App = await builder.BuildAsync(cts.Token);
        Errors = ResourceErrorLog.Watch(App);
        await App.StartAsync(cts.Token);
        await App.ResourceNotifications.WaitForResourceHealthyAsync("web", cts.Token);
        AssertNoErrorsSinceLastCheck("starting the app", expected: StartupErrors);
    }

    /// <summary>The dashboard's telemetry HTTP API (spans, logs), authorised with the AppHost's dashboard API key.</summary>
    public HttpClient CreateDashboardClient()
    {
        var client = new HttpClient { BaseAddress = App.GetEndpoint("aspire-dashboard", "http") };
        client.DefaultRequestHeaders.Add("X-API-Key", App.Services.GetRequiredService<IConfiguration>()["AppHost:DashboardApiKey"]);
        return client;
    }

    public IAmazonS3 CreateS3Client() => S3rverProcess.CreateClient(App.GetEndpoint("s3", "http").ToString());

    /// <summary>
    /// Errors that starting the app logs on purpose: the s3 resource's health check finds no bucket the first time
    /// and creates it.
    /// </summary>
    private static readonly ExpectsResourceErrorAttribute[] StartupErrors = [new("s3", "No bucket found for")];

    /// <summary>Fails when a resource logged an error that is not <paramref name="expected"/> since the last check.</summary>
    private void AssertNoErrorsSinceLastCheck(string when, IReadOnlyList<ExpectsResourceErrorAttribute> expected)
    {
        var errors = Errors!.Since(_checkedErrors);
        _checkedErrors += errors.Count;
        var unexpected = errors.Where(error => !expected.Any(e => e.Matches(error))).ToList();
        Assert.True(unexpected.Count == 0, $"Resources logged errors {when}:\n{string.Join("\n", unexpected)}");
    }

    public async Task DisposeAsync()
    {
        await App.StopAsync();
        var errors = Errors!;
        Errors = null;
        await errors.DisposeAsync();
        await App.DisposeAsync();
        foreach (var directory in new[] { S3rverDataDirectory, SpoolDirectory })
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

[CollectionDefinition(Name)]
[FailOnResourceErrors]
public sealed class WholeAppCollection : ICollectionFixture<WholeAppFixture>
{
    public const string Name = "whole app";
}
