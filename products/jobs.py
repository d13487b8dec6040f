"""Background jobs (a platform part): the `BackgroundJob` node, its viewer list and live updates.

The handlers of job kinds belong to the products that enqueue them (`Product.jobs`).
"""

from __future__ import annotations

from core.products import NodeType, Product
from loaders import Loaders
from loaders.jobs import JobLoaders
from resolvers.jobs import JobSubscription
from schema.jobs import BackgroundJob, JobViewerFields
from services.jobs import JOBS_TOPIC

JOBS = Product(
    name="jobs",
    subscription=JobSubscription,
    viewer=JobViewerFields,
    types=(BackgroundJob,),
    node_types={
        "BackgroundJob": NodeType[Loaders](
            lambda loaders: loaders.jobs.background_job_by_id, BackgroundJob.from_row, table="background_jobs"
        )
    },
    loaders={"jobs": JobLoaders},
    topics=(JOBS_TOPIC,),
)
