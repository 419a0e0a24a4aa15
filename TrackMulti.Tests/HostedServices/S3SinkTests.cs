using System.Net;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using TrackMulti.Api.Sinks;
using TrackMulti.Api.Spool;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

/// <summary>
/// The S3 sink through the Api's own composition (see <see cref="BatchingHost"/>) over a store that fails on demand:
/// uploads side by side acknowledged in order, retries under one key, access denied, a drain, S3 failing for a while.
/// </summary>
public sealed class S3SinkTests : IAsyncLifetime
{
    private readonly BatchingHost _host = new();

    public async Task InitializeAsync() => await _host.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_drain_returns_once_every_batch_sealed_so_far_is_stored_and_its_spool_file_is_gone()
    {
        await _host.AppendAsync(5);
        var partial = await _host.Writer.SealAsync(CancellationToken.None);

        var drained = await _host.Uploads.DrainAsync(CancellationToken.None);

        Assert.True(drained.Succeeded);
        Assert.Equal(2, partial!.Events);
        Assert.Equal(2, _host.Store.Objects.Count);
        Assert.Equal(0, _host.Uploads.Status().BacklogSegments);
        Assert.Equal(0, _host.Uploads.Status().BacklogBytes);
        // Deleted off the sinks' threads, soon after the acknowledgement.
        await Poll.UntilAsync(() => Directory.GetFiles(Path.Combine(_host.InstanceSpool, "sealed")).Length == 0);
    }

    [Fact]
    public async Task Batches_upload_side_by_side_up_to_UPLOAD_CONCURRENCY_and_none_is_acknowledged_before_an_older_one()
    {
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "1", ["UPLOAD_CONCURRENCY"] = "3" }).StartAsync();
        host.Store.HoldEach = true;
        var keys = (await host.AppendAsync(5)).Select(append => append.Sealed!.Key).ToList();
        await Poll.UntilAsync(() => host.Store.Held.Count == 3);

        host.Store.Release(keys[1]); // the second lands before the first
        await Poll.UntilAsync(() => host.Store.Objects.ContainsKey(keys[1]));
        await Task.Delay(200);       // time enough to acknowledge it, were that allowed

        Assert.Equal(keys, host.Uploads.Pending().Select(segment => segment.Key));
        Assert.Equal(5, Directory.GetFiles(Path.Combine(host.InstanceSpool, "sealed")).Length);
        Assert.Equal(3, host.Store.Held.Count); // its place is not given to a fourth before the first is done

        foreach (var key in keys)
        {
            host.Store.Release(key);
        }
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(3, host.Store.MostAtOnce);
        Assert.Equal(keys.Order(), host.Store.Objects.Keys.Order());
        await Poll.UntilAsync(() => Directory.GetFiles(Path.Combine(host.InstanceSpool, "sealed")).Length == 0);
    }

    [Fact]
    public async Task While_the_oldest_batch_fails_newer_ones_that_landed_stay_in_the_spool_until_it_lands()
    {
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "1", ["UPLOAD_CONCURRENCY"] = "3" }).StartAsync();
        host.Store.HoldEach = true;
        var keys = (await host.AppendAsync(3)).Select(append => append.Sealed!.Key).ToList();
        host.Store.FailingKeys[keys[0]] = true;
        foreach (var key in keys)
        {
            host.Store.Release(key);
        }

        await Poll.UntilAsync(() => host.Store.Objects.ContainsKey(keys[1]) && host.Store.Objects.ContainsKey(keys[2]));
        Assert.False((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(3, host.Uploads.Status().BacklogSegments);
        Assert.Equal(3, Directory.GetFiles(Path.Combine(host.InstanceSpool, "sealed")).Length);

        host.Store.FailingKeys.Clear();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal([1.0, 2.0, 3.0], host.StoredValues().Select(v => v!.Value));
        await Poll.UntilAsync(() => Directory.GetFiles(Path.Combine(host.InstanceSpool, "sealed")).Length == 0);
    }

    [Fact]
    public async Task Transient_failures_are_retried_under_the_same_key_until_the_batch_lands()
    {
        // More failures than one round's retries: the first round fails, the batch stays, a later round lands it.
        _host.Store.FailNext(4, () => new AmazonS3Exception("slow down", Amazon.Runtime.ErrorType.Receiver, "SlowDown", "r", HttpStatusCode.ServiceUnavailable));
        var first = await DrainFirstRoundAsync();
        var batch = first.StillQueued.Single();
        Assert.False(first.Succeeded);
        Assert.Contains("503", first.Error);
        Assert.Equal(3, _host.Store.Attempts.Count); // one round: the attempt and two retries
        Assert.True(File.Exists(_host.Services.GetRequiredService<SpoolDirectory>().SealedPath(batch)));

        var second = await _host.Uploads.DrainAsync(CancellationToken.None);

        Assert.True(second.Succeeded);
        Assert.Equal(5, _host.Store.Attempts.Count);
        Assert.All(_host.Store.Attempts, key => Assert.Equal(batch.Key, key));
        Assert.Equal([1.0, 2.0, 3.0], _host.StoredValues().Select(v => v!.Value));
    }

    [Fact]
    public async Task Access_denied_is_not_retried_within_a_round_but_the_batch_is_kept()
    {
        _host.Store.FailAll = new AmazonS3Exception("denied", Amazon.Runtime.ErrorType.Sender, "AccessDenied", "r", HttpStatusCode.Forbidden);
        var drained = await DrainFirstRoundAsync();
        var batch = drained.StillQueued.Single();

        Assert.False(drained.Succeeded);
        Assert.Contains("AccessDenied", drained.Error);
        Assert.Single(_host.Store.Attempts);
        Assert.Equal(1, _host.Uploads.Status().BacklogSegments);
        Assert.Equal(3, _host.Uploads.Status().BacklogEvents);

        _host.Store.FailAll = null;
        Assert.True((await _host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.True(_host.Store.Objects.ContainsKey(batch.Key));
    }

    /// <summary>Seals one batch and drains, with the drain registered before the first upload round can finish.</summary>
    private async Task<DrainResult> DrainFirstRoundAsync()
    {
        _host.Store.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _host.AppendAsync(3);
        var drain = _host.Uploads.DrainAsync(CancellationToken.None);
        var gate = _host.Store.Gate;
        _host.Store.Gate = null;
        gate.SetResult();
        return await drain;
    }

    [Fact]
    public async Task Newer_batches_keep_being_sealed_while_S3_fails_and_all_land_in_order_once_it_recovers()
    {
        _host.Store.FailAll = new HttpRequestException("connection refused");

        var results = await _host.AppendAsync(9);
        Assert.Equal(3, results.Count(r => r.Sealed is not null));
        Assert.False((await _host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(9, _host.Uploads.Status().BacklogEvents);

        _host.Store.FailAll = null;
        Assert.True((await _host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(Enumerable.Range(1, 9).Select(n => (double?)n), _host.StoredValues());
    }
}
