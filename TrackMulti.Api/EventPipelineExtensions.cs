using Microsoft.Extensions.Options;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Replay;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api;

public static class EventPipelineExtensions
{
    /// <summary>
    /// The pipeline behind the endpoints: spool, sinks, batching and replays, and the faces the endpoints and replays
    /// reach them through (<see cref="IEventPipeline"/>, <see cref="IRecord"/>, …). The Api and the tests' hosts both
    /// compose it here.
    /// </summary>
    public static IHostApplicationBuilder AddEventPipeline(this IHostApplicationBuilder builder)
    {
        // Hosted services start in this order and stop in reverse: the spool recovers first; on shutdown replays stop,
        // the batch writers seal their last batches, then S3 (the record) delivers what is left, then FME, then the
        // spool closes.
        builder.AddSpool();
        builder.AddFmeSink();
        builder.AddS3Sink();
        builder.AddBatching();
        builder.AddReplay();

        builder.Services.AddSingleton<IEventPipeline>(sp => sp.GetRequiredService<Batches>());
        builder.Services.AddSingleton<IRecord>(sp => sp.GetRequiredService<S3Sink>());
        builder.Services.AddSingleton<IBackPressure>(sp => sp.GetRequiredService<S3Sink>());
        builder.Services.AddSingleton<IRecordCatalog>(sp => sp.GetRequiredService<S3Catalog>());
        builder.Services.AddSingleton<ILogStatus, SpoolStatus>();
        builder.Services.AddSingleton<PipelineFlush>();
        builder.Services.AddSingleton(sp =>
        {
            var s3 = sp.GetRequiredService<IOptions<S3Options>>().Value;
            return new DestinationSettings(s3.BucketName, s3.Region, sp.GetRequiredService<IOptions<FmeOptions>>().Value.Forwarding);
        });
        return builder;
    }
}
