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
/// because one start costs ~20 s here.
/// </summary>
public sealed class WholeAppFixture : IAsyncLifetime
{
    public const string Bucket = "app-tests";
    public const int BatchSize = 5;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    public DistributedApplication App { get; private set; } = null!;

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
        await App.StartAsync(cts.Token);
        await App.ResourceNotifications.WaitForResourceHealthyAsync("web", cts.Token);
    }

    /// <summary>The dashboard's telemetry HTTP API (spans, logs), authorised with the AppHost's dashboard API key.</summary>
    public HttpClient CreateDashboardClient()
    {
        var client = new HttpClient { BaseAddress = App.GetEndpoint("aspire-dashboard", "http") };
        client.DefaultRequestHeaders.Add("X-API-Key", App.Services.GetRequiredService<IConfiguration>()["AppHost:DashboardApiKey"]);
        return client;
    }

    public IAmazonS3 CreateS3Client() => S3rverProcess.CreateClient(App.GetEndpoint("s3", "http").ToString());

    public async Task DisposeAsync()
    {
        await App.StopAsync();
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
public sealed class WholeAppCollection : ICollectionFixture<WholeAppFixture>
{
    public const string Name = "whole app";
}
