using TrackMulti.Api.Telemetry;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

/// <summary>
/// The TrackMulti meter as an operator's first tool shows it: <c>dotnet-counters --counters TrackMulti</c>, through
/// the runtime's metrics EventSource with the tool's own arguments (<see cref="DotnetCountersSession"/>).
/// </summary>
[Collection(DotnetCountersCollection.Name)]
public sealed class DotnetCountersTests
{
    [Fact]
    public async Task Dotnet_counters_shows_every_TrackMulti_instrument_and_both_histograms_of_an_upload()
    {
        using var counters = new DotnetCountersSession(TrackMetrics.MeterName);
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "3" }).StartAsync();
        await counters.Started.WaitAsync(TimeSpan.FromSeconds(10));

        await host.AppendAsync(6);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        var shown = await counters.WaitForAsync([TrackMetrics.BatchSize, TrackMetrics.UploadDuration, .. counters.Published], TimeSpan.FromSeconds(10));

        Assert.Contains(TrackMetrics.BatchSize, counters.Published);
        Assert.Empty(counters.Published.Except(shown));
        Assert.Empty(counters.Problems);
    }
}

/// <summary>
/// The metrics EventSource aggregates every meter named TrackMulti in the process, so its tests run alone: another
/// test's hosts would add their own series to the session's limits.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DotnetCountersCollection
{
    public const string Name = "dotnet-counters";
}
