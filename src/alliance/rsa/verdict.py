"""placeholder"""
import pandas as pd


def verdict_table(checklist, family, frame, conf_level):
    return pd.DataFrame()
